import Foundation

/// The POSIX ustar format, as much as a working directory needs: directories and regular files, written
/// deterministically (sorted, mtime 0, owner 0, modes 0755/0644) so the same files always give the same bytes, and read
/// strictly (no absolute paths, no `..`, no links or devices: nothing that could land outside the directory).
public enum TarArchive {
    public struct Entry: Sendable, Hashable {
        public var path: String
        public var isDirectory: Bool
        public var executable: Bool
        public var contents: Data

        public init(path: String, isDirectory: Bool, executable: Bool = false, contents: Data = Data()) {
            self.path = path
            self.isDirectory = isDirectory
            self.executable = executable
            self.contents = contents
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ d: String) { description = d }
    }

    // MARK: write

    public static func write(_ entries: [Entry]) throws -> Data {
        var out = Data()
        for e in entries.sorted(by: { $0.path < $1.path }) {
            let name = e.isDirectory ? e.path + "/" : e.path
            let (prefix, base) = try split(name)
            var h = [UInt8](repeating: 0, count: 512)
            put(&h, 0, 100, base)
            put(&h, 100, 8, octal(e.isDirectory || e.executable ? 0o755 : 0o644, 7))
            put(&h, 108, 8, octal(0, 7))
            put(&h, 116, 8, octal(0, 7))
            put(&h, 124, 12, octal(e.isDirectory ? 0 : e.contents.count, 11))
            put(&h, 136, 12, octal(0, 11))
            for i in 148..<156 { h[i] = 0x20 }
            h[156] = e.isDirectory ? UInt8(ascii: "5") : UInt8(ascii: "0")
            put(&h, 257, 6, "ustar")
            put(&h, 263, 2, "00")
            put(&h, 345, 155, prefix)
            let sum = h.reduce(0) { $0 + Int($1) }
            put(&h, 148, 8, octal(sum, 6) + "\0 ")
            out.append(contentsOf: h)
            if !e.isDirectory {
                out.append(e.contents)
                let pad = (512 - e.contents.count % 512) % 512
                out.append(Data(count: pad))
            }
        }
        out.append(Data(count: 1024))
        return out
    }

    /// ustar keeps names of up to 100 bytes, with a prefix of up to 155 split at a `/`.
    static func split(_ name: String) throws -> (String, String) {
        let bytes = Array(name.utf8)
        if bytes.count <= 100 { return ("", name) }
        for (i, b) in bytes.enumerated().reversed() where b == UInt8(ascii: "/") && i <= 155 && bytes.count - i - 1 <= 100 && i > 0 {
            return (String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
        }
        throw Failure("the path \(name) is too long for the archive (at most 255 bytes, with no part over 100)")
    }

    static func octal(_ v: Int, _ width: Int) -> String {
        let s = String(v, radix: 8)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func put(_ h: inout [UInt8], _ at: Int, _ len: Int, _ s: String) {
        for (i, b) in s.utf8.prefix(len).enumerated() { h[at + i] = b }
    }

    // MARK: read

    /// Every entry, checked; `limit` bounds the total size of the files.
    public static func read(_ data: Data, limit: Int) throws -> [Entry] {
        let bytes = [UInt8](data)
        var entries: [Entry] = []
        var offset = 0
        var total = 0
        var seen: Set<String> = [], files: Set<String> = [], directories: Set<String> = []
        while offset + 512 <= bytes.count {
            let h = Array(bytes[offset..<(offset + 512)])
            if h.allSatisfy({ $0 == 0 }) { break }
            let stored = Int(field(h, 148, 8).trimmingCharacters(in: CharacterSet(charactersIn: " \0")), radix: 8)
            var check = h
            for i in 148..<156 { check[i] = 0x20 }
            guard stored == check.reduce(0, { $0 + Int($1) }) else { throw Failure("the archive is damaged at byte \(offset) (bad header checksum)") }
            let prefix = field(h, 345, 155), base = field(h, 0, 100)
            var path = prefix.isEmpty ? base : prefix + "/" + base
            let type = h[156]
            guard let size = Int(field(h, 124, 12).trimmingCharacters(in: CharacterSet(charactersIn: " \0")), radix: 8) else {
                throw Failure("the archive is damaged at byte \(offset) (bad size)")
            }
            let mode = Int(field(h, 100, 8).trimmingCharacters(in: CharacterSet(charactersIn: " \0")), radix: 8) ?? 0o644
            offset += 512
            let isDirectory = type == UInt8(ascii: "5")
            guard isDirectory || type == UInt8(ascii: "0") || type == 0 else {
                throw Failure("\(path): only directories and regular files may be in a working directory (no links or devices)")
            }
            if path.hasSuffix("/") { path.removeLast() }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard !path.isEmpty else { throw Failure("an entry at byte \(offset - 512) has an empty name") }
            guard !path.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0.isEmpty }) else {
                throw Failure("\(path): paths must stay inside the working directory (no absolute paths, no ..)")
            }
            guard !parts.contains(".") else {
                throw Failure("\(path): names with a '.' part are refused (write \(parts.filter { $0 != "." }.joined(separator: "/").isEmpty ? "the directory's own entries" : parts.filter { $0 != "." }.joined(separator: "/")))")
            }
            // Each path once, and a file never where a directory is (or the other way round): an archive whose
            // entries contradict each other could only fail later, when a pod's supervisor unpacks it.
            for i in 1..<parts.count {
                let ancestor = parts[..<i].joined(separator: "/")
                if files.contains(ancestor) { throw Failure("\(path): \(ancestor) is a file in the archive, so nothing can be inside it") }
                directories.insert(ancestor)
            }
            if isDirectory {
                if files.contains(path) { throw Failure("\(path) is both a file and a directory in the archive") }
                directories.insert(path)
            } else {
                if directories.contains(path) { throw Failure("\(path) is both a directory and a file in the archive") }
                files.insert(path)
            }
            guard seen.insert(path).inserted else { throw Failure("\(path) appears twice in the archive") }
            total += size
            guard total <= limit else { throw Failure("the working directory is larger than \(limit >> 20) MiB") }
            guard offset + size <= bytes.count else { throw Failure("the archive ends in the middle of \(path)") }
            let contents = isDirectory ? Data() : Data(bytes[offset..<(offset + size)])
            offset += isDirectory ? 0 : (size + 511) / 512 * 512
            entries.append(Entry(path: path, isDirectory: isDirectory, executable: mode & 0o111 != 0, contents: contents))
        }
        return entries
    }

    static func field(_ h: [UInt8], _ at: Int, _ len: Int) -> String {
        let slice = h[at..<(at + len)]
        let end = slice.firstIndex(of: 0) ?? slice.endIndex
        return String(decoding: h[at..<end], as: UTF8.self)
    }

    /// Writes the entries under `directory` (which must exist), files with the given owner when set.
    public static func extract(_ entries: [Entry], into directory: String, owner: (uid: UInt32, gid: UInt32)? = nil) throws {
        let fm = FileManager.default
        for e in entries.sorted(by: { $0.path < $1.path }) {
            let target = directory + "/" + e.path
            let parent = (target as NSString).deletingLastPathComponent
            if !fm.fileExists(atPath: parent) { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755]) }
            if e.isDirectory {
                if !fm.fileExists(atPath: target) { try fm.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755]) }
            } else {
                guard fm.createFile(atPath: target, contents: e.contents, attributes: [.posixPermissions: e.executable ? 0o755 : 0o644]) else {
                    throw Failure("cannot write \(target)")
                }
            }
            if let owner { _ = chown(target, owner.uid, owner.gid) }
        }
        if let owner {
            // Directories made on the way down belong to the pod too.
            let all = (fm.enumerator(atPath: directory)?.allObjects as? [String]) ?? []
            for p in all { _ = chown(directory + "/" + p, owner.uid, owner.gid) }
        }
    }
}
