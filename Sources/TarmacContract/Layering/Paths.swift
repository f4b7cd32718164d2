import Foundation

/// Path arithmetic for files that name other files (`extends`, `overlay`), relative to the file that names them.
enum Paths {
    static func resolve(_ relative: String, from file: String) -> String {
        if relative.hasPrefix("/") { return normalize(relative) }
        let dir = (file as NSString).deletingLastPathComponent
        return normalize(dir.isEmpty ? relative : dir + "/" + relative)
    }

    static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var out: [Substring] = []
        for c in path.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == "..", let last = out.last, last != ".." { out.removeLast(); continue }
            out.append(c)
        }
        let joined = out.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// Identity of a file for cycle detection.
    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
