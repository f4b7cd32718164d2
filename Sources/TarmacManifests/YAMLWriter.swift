import Foundation

/// Deterministic YAML: keys sorted, two-space indentation, block style, strings quoted only when needed
/// (and then JSON-escaped), so the same objects always give the same bytes.
public enum YAMLWriter {
    public static func document(_ value: KValue) -> String {
        // Bytes into one buffer, made into a String once: cheaper than growing a String a few bytes at a time.
        var out: [UInt8] = []
        out.reserveCapacity(2048)
        write(value, indent: 0, into: &out, inList: false)
        return String(decoding: out, as: UTF8.self)
    }

    /// Several documents separated by `---`.
    public static func stream(_ values: [KValue]) -> String {
        values.map(document).joined(separator: "---\n")
    }

    private static let space: UInt8 = 0x20, newline: UInt8 = 0x0A, colon: UInt8 = 0x3A, dash: UInt8 = 0x2D

    private static func append(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { out.append(contentsOf: $0) }
    }

    private static func pad(_ n: Int, _ out: inout [UInt8]) {
        out.append(contentsOf: repeatElement(space, count: n))
    }

    private static func write(_ value: KValue, indent: Int, into out: inout [UInt8], inList: Bool) {
        switch value {
        case .object(let o):
            if o.isEmpty { append("{}\n", to: &out); return }
            var first = true
            for (key, v) in o.sorted(by: { $0.key < $1.key }) {
                if !(first && inList) { pad(indent, &out) }
                first = false
                append(needsQuotes(key) ? quoted(key) : key, to: &out)
                out.append(colon)
                switch v {
                case .object(let c) where !c.isEmpty:
                    out.append(newline)
                    write(v, indent: indent + 2, into: &out, inList: false)
                case .list(let l) where !l.isEmpty:
                    out.append(newline)
                    write(v, indent: indent, into: &out, inList: false)
                default:
                    out.append(space)
                    write(v, indent: indent + 2, into: &out, inList: false)
                }
            }
        case .list(let l):
            if l.isEmpty { append("[]\n", to: &out); return }
            for item in l {
                pad(indent, &out)
                out.append(dash)
                out.append(space)
                switch item {
                case .object(let c) where !c.isEmpty:
                    write(item, indent: indent + 2, into: &out, inList: true)
                case .list(let inner) where !inner.isEmpty:
                    out.append(newline)
                    write(item, indent: indent + 2, into: &out, inList: false)
                default:
                    write(item, indent: indent + 2, into: &out, inList: false)
                }
            }
        case .string(let s):
            append(needsQuotes(s) ? quoted(s) : s, to: &out)
            out.append(newline)
        case .int(let i):
            append(String(i), to: &out)
            out.append(newline)
        case .double(let d):
            append(d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)", to: &out)
            out.append(newline)
        case .bool(let b):
            append(b ? "true" : "false", to: &out)
            out.append(newline)
        }
    }

    static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
                                        "True", "False", "Yes", "No", "On", "Off", "Y", "N", "Null", "NULL", "TRUE", "FALSE", "YES", "NO", "ON", "OFF"]

    /// A string as a plain scalar when YAML would read it back as the same string, else double-quoted.
    public static func scalar(_ s: String) -> String {
        needsQuotes(s) ? quoted(s) : s
    }

    static func needsQuotes(_ s: String) -> Bool {
        var bytes = s
        return bytes.withUTF8 { needsQuotes(s, bytes: $0) }
    }

    /// First letters of the reserved words: only strings that start with one are looked up.
    private static func mayBeReserved(_ first: UInt8) -> Bool {
        switch first {
        case 0x74, 0x66, 0x79, 0x6E, 0x6F, 0x54, 0x46, 0x59, 0x4E, 0x4F, 0x7E: true  // t f y n o T F Y N O ~
        default: false
        }
    }

    private static func needsQuotes(_ s: String, bytes u: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = u.first, let last = u.last else { return true }
        // Reserved words are at most 5 bytes long.
        if u.count <= 5 && mayBeReserved(first) && reserved.contains(s) { return true }
        // Fast path, one pass over the bytes: starts with a letter, only characters that are never special.
        // (A string that starts with a letter is never a number.)
        if (first >= 0x61 && first <= 0x7A) || (first >= 0x41 && first <= 0x5A) {
            var plain = true
            var previous: UInt8 = 0
            for c in u {
                let safe = (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                    || c == 0x2E || c == 0x2F || c == 0x2D || c == 0x5F || c == 0x40 || (c == 0x3A && previous != 0x20)
                if !safe { plain = false; break }
                previous = c
            }
            if plain && previous != 0x3A { return false }
        }
        if first == 0x20 || last == 0x20 || last == 0x3A { return true }
        // - ? : , [ ] { } # & * ! | > ' " % @ `
        if [0x2D, 0x3F, 0x3A, 0x2C, 0x5B, 0x5D, 0x7B, 0x7D, 0x23, 0x26, 0x2A, 0x21, 0x7C, 0x3E, 0x27, 0x22, 0x25, 0x40, 0x60].contains(first) { return true }
        if containsPair(s, 0x3A, 0x20) || containsPair(s, 0x20, 0x23) { return true }
        // Control characters, tabs and anything beyond ASCII are quoted (escaped).
        if u.contains(where: { $0 < 0x20 || $0 >= 0x7F }) { return true }
        return looksNumeric(s)
    }

    /// Whether the bytes `a` then `b` occur in `s` next to each other.
    static func containsPair(_ s: String, _ a: UInt8, _ b: UInt8) -> Bool {
        var previous: UInt8 = 0
        for c in s.utf8 {
            if previous == a && c == b { return true }
            previous = c
        }
        return false
    }

    static func looksNumeric(_ s: String) -> Bool {
        if Double(s) != nil || Int(s) != nil { return true }
        if s.hasPrefix("0x") || s.hasPrefix("0o") || s.hasPrefix(".") { return true }
        if [".inf", ".Inf", ".INF", "-.inf", ".nan", ".NaN"].contains(s) { return true }
        // YAML 1.1 sexagesimal and numbers with underscores (190:20:30, 1_000).
        // (Called on ASCII only.)
        var digit = false
        for c in s.utf8 {
            if c >= 0x30 && c <= 0x39 { digit = true; continue }
            // _ : . - + e E
            guard c == 0x5F || c == 0x3A || c == 0x2E || c == 0x2D || c == 0x2B || c == 0x65 || c == 0x45 else { return false }
        }
        return digit
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
