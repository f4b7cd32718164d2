/// A length of time written like `90s`, `30m`, `12h`, `1h30m`, `2d`. Stored in whole seconds.
public struct TimeSpan: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var seconds: Int64
    public init(seconds: Int64) { self.seconds = seconds }

    public enum ParseError: Error, Equatable, Sendable { case malformed, zero }

    public static func parse(_ text: String) -> Result<TimeSpan, ParseError> {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var total: Int64 = 0
        var digits = ""
        var sawUnit = false
        var lastUnitRank = Int.max
        let rank: [Character: Int] = ["d": 4, "h": 3, "m": 2, "s": 1]
        for c in text {
            if c.isASCII && c.isNumber {
                digits.append(c)
                guard digits.count <= 9 else { return .failure(.malformed) }
            } else if let unit = units[c], let n = Int64(digits), let r = rank[c], r < lastUnitRank {
                total += n * unit
                digits = ""
                sawUnit = true
                lastUnitRank = r
            } else {
                return .failure(.malformed)
            }
        }
        guard digits.isEmpty, sawUnit else { return .failure(.malformed) }
        guard total > 0 else { return .failure(.zero) }
        return .success(TimeSpan(seconds: total))
    }

    /// Canonical form, largest units first: `1h30m`, `2d`, `45s`.
    public var description: String {
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out.isEmpty ? "0s" : out
    }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.seconds < b.seconds }
}
