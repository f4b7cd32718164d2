import Foundation

/// Deterministic YAML: keys sorted, two-space indentation, block style, strings quoted only when needed
/// (and then JSON-escaped), so the same objects always give the same bytes.
public enum YAMLWriter {
    public static func document(_ value: KValue) -> String {
        var out = ""
        write(value, indent: 0, into: &out, inList: false)
        return out
    }

    /// Several documents separated by `---`.
    public static func stream(_ values: [KValue]) -> String {
        values.map(document).joined(separator: "---\n")
    }

    private static func write(_ value: KValue, indent: Int, into out: inout String, inList: Bool) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .object(let o):
            if o.isEmpty { out += "{}\n"; return }
            var first = true
            for key in o.keys.sorted() {
                let v = o[key]!
                if !(first && inList) { out += pad }
                first = false
                out += scalar(key) + ":"
                switch v {
                case .object(let c) where !c.isEmpty:
                    out += "\n"
                    write(v, indent: indent + 2, into: &out, inList: false)
                case .list(let l) where !l.isEmpty:
                    out += "\n"
                    write(v, indent: indent, into: &out, inList: false)
                default:
                    out += " "
                    write(v, indent: indent + 2, into: &out, inList: false)
                }
            }
        case .list(let l):
            if l.isEmpty { out += "[]\n"; return }
            for item in l {
                out += pad + "- "
                switch item {
                case .object(let c) where !c.isEmpty:
                    write(item, indent: indent + 2, into: &out, inList: true)
                case .list(let inner) where !inner.isEmpty:
                    out += "\n"
                    write(item, indent: indent + 2, into: &out, inList: false)
                default:
                    write(item, indent: indent + 2, into: &out, inList: false)
                }
            }
        case .string(let s): out += scalar(s) + "\n"
        case .int(let i): out += "\(i)\n"
        case .double(let d): out += (d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)") + "\n"
        case .bool(let b): out += (b ? "true" : "false") + "\n"
        }
    }

    static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
                                        "True", "False", "Yes", "No", "On", "Off", "Y", "N", "Null", "NULL", "TRUE", "FALSE", "YES", "NO", "ON", "OFF"]

    /// A string as a plain scalar when YAML would read it back as the same string, else double-quoted.
    public static func scalar(_ s: String) -> String {
        needsQuotes(s) ? quoted(s) : s
    }

    static func needsQuotes(_ s: String) -> Bool {
        // Fast path, one pass over the bytes: starts with a letter, only characters that are never special.
        // (A string that starts with a letter is never a number; reserved words are checked separately.)
        var utf8 = s.utf8.makeIterator()
        if let b = utf8.next(), (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) {
            var plain = true
            var previous = b
            while let c = utf8.next() {
                let safe = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                    || c == 0x2E || c == 0x2F || c == 0x2D || c == 0x5F || c == 0x40 || (c == 0x3A && previous != 0x20)
                if !safe { plain = false; break }
                previous = c
            }
            if plain && previous != 0x3A { return reserved.contains(s) }
        }
        guard let first = s.first, let last = s.last else { return true }
        if reserved.contains(s) { return true }
        if first == " " || last == " " || last == ":" { return true }
        if "-?:,[]{}#&*!|>'\"%@`".contains(first) { return true }
        if s.contains(": ") || s.contains(" #") || s.contains("\t") { return true }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0.value > 0x7E }) { return true }
        if looksNumeric(s) { return true }
        return false
    }

    static func looksNumeric(_ s: String) -> Bool {
        if Double(s) != nil || Int(s) != nil { return true }
        if s.hasPrefix("0x") || s.hasPrefix("0o") || s.hasPrefix(".") { return true }
        if [".inf", ".Inf", ".INF", "-.inf", ".nan", ".NaN"].contains(s) { return true }
        // YAML 1.1 sexagesimal and numbers with underscores (190:20:30, 1_000).
        let digitsAndSeparators = s.allSatisfy { $0.isNumber || $0 == "_" || $0 == ":" || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }
        return digitsAndSeparators && s.contains(where: \.isNumber)
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04X", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
