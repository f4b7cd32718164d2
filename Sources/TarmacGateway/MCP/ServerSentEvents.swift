/// A `text/event-stream` read as the HTML standard frames it, over bytes (never Swift `Character`s, in which `\r\n` is
/// one character): lines end with CRLF, LF or CR, also when a CRLF is split between two reads; a leading BOM is
/// skipped; a blank line ends an event; `name: value` fields (one space after the colon dropped, a line without a
/// colon is a field with an empty value) and `:` comments are kept in order, so an event is written out again as it
/// came, with LF line endings. What follows the last blank line when the stream ends is not an event and is dropped.
struct ServerSentEvents {
    /// One line of an event: a field, or a comment (`name` nil).
    struct Line: Equatable, Sendable {
        var name: [UInt8]?
        var value: [UInt8]
    }

    /// One event: its lines in order, up to the blank line that ended it.
    struct Event: Equatable, Sendable {
        var lines: [Line]

        /// The `data` fields joined with LF, as the standard gives them to the reader; nil when there is none.
        var data: [UInt8]? {
            var out: [UInt8]?
            for l in lines where l.name == Self.dataName {
                if out == nil { out = l.value } else { out! += [0x0A] + l.value }
            }
            return out
        }

        /// The same event with its data replaced (one `data` line per line of `data`, where the first one stood; nil
        /// drops the data and keeps the other fields, such as the id a reader resumes from).
        func replacingData(_ data: [UInt8]?) -> Event {
            var out: [Line] = []
            var placed = false
            for l in lines {
                if l.name == Self.dataName {
                    if !placed, let data {
                        for part in data.split(separator: 0x0A, omittingEmptySubsequences: false) { out.append(Line(name: Self.dataName, value: Array(part))) }
                    }
                    placed = true
                } else {
                    out.append(l)
                }
            }
            return Event(lines: out)
        }

        /// The event written out, LF line endings, ended by a blank line.
        var bytes: [UInt8] {
            var out: [UInt8] = []
            for l in lines {
                if let n = l.name {
                    out += n
                    out += [0x3A, 0x20]
                } else {
                    out += [0x3A]
                }
                out += l.value
                out.append(0x0A)
            }
            out.append(0x0A)
            return out
        }

        static let dataName: [UInt8] = Array("data".utf8)
    }

    /// An event larger than this is refused (the stream cannot be read further).
    let limit: Int
    private var line: [UInt8] = []
    private var lines: [Line] = []
    private var size = 0
    private var afterCR = false
    private(set) var overflowed = false

    init(limit: Int = 16 << 20) { self.limit = limit }

    /// Reads more of the stream; returns the events it completed.
    mutating func feed<C: Collection>(_ bytes: C) -> [Event] where C.Element == UInt8 {
        var out: [Event] = []
        for b in bytes {
            guard !overflowed else { return out }
            // A BOM (EF BB BF) at the very start is not part of the first line.
            if var pending = bom {
                pending.append(b)
                if Self.byteOrderMark.starts(with: pending) {
                    bom = pending.count == 3 ? nil : pending
                    continue
                }
                bom = nil
                for p in pending { endOrAppend(p, into: &out) }
                continue
            }
            endOrAppend(b, into: &out)
        }
        return out
    }

    private var bom: [UInt8]? = []
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    private mutating func endOrAppend(_ b: UInt8, into out: inout [Event]) {
        if afterCR {
            afterCR = false
            if b == 0x0A { return }
        }
        switch b {
        case 0x0D:
            afterCR = true
            endLine(into: &out)
        case 0x0A:
            endLine(into: &out)
        default:
            line.append(b)
            size += 1
            if size > limit { overflowed = true }
        }
    }

    private mutating func endLine(into out: inout [Event]) {
        defer { line = [] }
        if line.isEmpty {
            if !lines.isEmpty { out.append(Event(lines: lines)) }
            lines = []
            size = 0
            return
        }
        guard let colon = line.firstIndex(of: 0x3A) else {
            lines.append(Line(name: line, value: []))
            return
        }
        var value = line[(colon + 1)...]
        if value.first == 0x20 { value = value.dropFirst() }
        lines.append(Line(name: colon == 0 ? nil : Array(line[..<colon]), value: Array(value)))
    }

    /// Whether a partial event is pending (what the end of the stream would drop).
    var hasPartialEvent: Bool { !line.isEmpty || !lines.isEmpty }
}
