import Foundation

/// The patterns of `.gitignore` and `.tarmacignore` at the root of a working directory, as git reads them: `#`
/// comments, `!` to re-include, a trailing `/` for directories only, a `/` inside anchoring to the root, `*`, `?`,
/// `[...]` and `**`. The last matching pattern wins; an excluded directory is not entered (so nothing under it can be
/// re-included, as with git).
public struct IgnoreRules: Sendable {
    struct Rule: Sendable {
        var regex: NSRegularExpression
        var negated: Bool
        var directoryOnly: Bool
    }

    var rules: [Rule] = []

    public init(_ text: String) {
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            while line.hasSuffix(" ") && !line.hasSuffix("\\ ") { line.removeLast() }
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            var negated = false
            if line.hasPrefix("!") {
                negated = true
                line.removeFirst()
            } else if line.hasPrefix("\\") {
                line.removeFirst()
            }
            var directoryOnly = false
            if line.hasSuffix("/") {
                directoryOnly = true
                line.removeLast()
            }
            guard !line.isEmpty else { continue }
            let anchored = line.contains("/")
            if line.hasPrefix("/") { line.removeFirst() }
            let body = Self.translate(line)
            let pattern = anchored ? "^" + body + "$" : "^(.*/)?" + body + "$"
            if let regex = try? NSRegularExpression(pattern: pattern) {
                rules.append(Rule(regex: regex, negated: negated, directoryOnly: directoryOnly))
            }
        }
    }

    /// Rules from the files that exist in `directory`, plus `.git/` (never sent).
    public static func load(from directory: String) -> IgnoreRules {
        var text = ".git/\n"
        for name in [".gitignore", ".tarmacignore"] {
            if let d = FileManager.default.contents(atPath: directory + "/" + name) { text += String(decoding: d, as: UTF8.self) + "\n" }
        }
        return IgnoreRules(text)
    }

    /// Whether `path` (relative, `/`-separated) is left out.
    public func ignores(_ path: String, isDirectory: Bool) -> Bool {
        var ignored = false
        let range = NSRange(path.startIndex..., in: path)
        for r in rules where !r.directoryOnly || isDirectory {
            if r.regex.firstMatch(in: path, range: range) != nil { ignored = !r.negated }
        }
        return ignored
    }

    static func translate(_ glob: String) -> String {
        var out = ""
        var chars = Array(glob)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "*":
                if i + 1 < chars.count, chars[i + 1] == "*" {
                    // `**/` any leading directories; `/**` everything below; `**` alone anything.
                    if i + 2 < chars.count, chars[i + 2] == "/" {
                        out += "(.*/)?"
                        i += 3
                        continue
                    }
                    out += ".*"
                    i += 2
                    continue
                }
                out += "[^/]*"
            case "?":
                out += "[^/]"
            case "[":
                if let close = chars[(i + 1)...].firstIndex(of: "]") {
                    var set = String(chars[(i + 1)..<close])
                    if set.hasPrefix("!") { set = "^" + set.dropFirst() }
                    out += "[" + set.replacingOccurrences(of: "\\", with: "\\\\") + "]"
                    i = close + 1
                    continue
                }
                out += "\\["
            case "\\":
                if i + 1 < chars.count {
                    out += NSRegularExpression.escapedPattern(for: String(chars[i + 1]))
                    i += 2
                    continue
                }
            default:
                out += NSRegularExpression.escapedPattern(for: String(c))
            }
            i += 1
        }
        chars = []
        return out
    }
}
