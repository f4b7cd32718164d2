import Foundation

/// Why a Kubernetes quantity could not be read.
public enum QuantityError: Error, Equatable, Sendable {
    case malformed(String)
    case negative(String)
    case zero(String)
    case tooPrecise(String)
    case tooLarge(String)
}

/// Parsing of Kubernetes quantity notation (`500m`, `8`, `64Gi`, `1.5G`, `1e3`).
public enum QuantityParser {
    static let binary: [String: Decimal] = [
        "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776,
        "Pi": 1_125_899_906_842_624, "Ei": 1_152_921_504_606_846_976,
    ]
    static let decimal: [String: Decimal] = [
        "n": Decimal(string: "0.000000001")!, "u": Decimal(string: "0.000001")!, "m": Decimal(string: "0.001")!,
        "": 1, "k": 1_000, "M": 1_000_000, "G": 1_000_000_000, "T": 1_000_000_000_000,
        "P": 1_000_000_000_000_000, "E": 1_000_000_000_000_000_000,
    ]

    /// The exact decimal value of a quantity string. Negative values are returned as such; callers decide.
    public static func value(of text: String) -> Decimal? {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty, s == text else { return nil }
        var scalars = Substring(s)
        var sign: Decimal = 1
        if let first = scalars.first, first == "+" || first == "-" {
            if first == "-" { sign = -1 }
            scalars = scalars.dropFirst()
        }
        // Number part: digits with at most one dot.
        var end = scalars.startIndex
        var sawDigit = false
        var sawDot = false
        while end < scalars.endIndex {
            let c = scalars[end]
            if c.isASCII && c.isNumber { sawDigit = true } else if c == "." && !sawDot { sawDot = true } else { break }
            end = scalars.index(after: end)
        }
        guard sawDigit else { return nil }
        let numberText = String(scalars[scalars.startIndex..<end])
        let suffix = String(scalars[end...])
        guard let number = Decimal(string: numberText, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        let multiplier: Decimal
        if let m = binary[suffix] ?? decimal[suffix] {
            multiplier = m
        } else if let first = suffix.first, first == "e" || first == "E", let exp = Int(suffix.dropFirst()), abs(exp) <= 18 {
            multiplier = exp >= 0 ? pow(Decimal(10), exp) : 1 / pow(Decimal(10), -exp)
        } else {
            return nil
        }
        return sign * number * multiplier
    }

    /// Value scaled by `scale` and rounded up to an integer, as Kubernetes does for milli-units.
    static func scaled(_ text: String, scale: Decimal, allowZero: Bool) -> Result<Int64, QuantityError> {
        guard let v = value(of: text) else { return .failure(.malformed(text)) }
        if v < 0 { return .failure(.negative(text)) }
        if v == 0 && !allowZero { return .failure(.zero(text)) }
        var product = v * scale
        var rounded = Decimal()
        NSDecimalRound(&rounded, &product, 0, .up)
        guard rounded < Decimal(Int64.max / 2) else { return .failure(.tooLarge(text)) }
        let n = NSDecimalNumber(decimal: rounded).int64Value
        if n == 0 && !allowZero { return .failure(.zero(text)) }
        return .success(n)
    }
}

/// CPU in millicores. Written `500m`, `2`, `0.5`.
public struct CPUQuantity: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var millis: Int64
    public init(millis: Int64) { self.millis = millis }
    public init(cores: Int) { self.millis = Int64(cores) * 1000 }

    public static func parse(_ text: String, allowZero: Bool = false) -> Result<CPUQuantity, QuantityError> {
        QuantityParser.scaled(text, scale: 1000, allowZero: allowZero).map(CPUQuantity.init(millis:))
    }

    /// Canonical Kubernetes form: whole cores as `8`, otherwise `500m`.
    public var description: String { millis % 1000 == 0 ? "\(millis / 1000)" : "\(millis)m" }
    public var cores: Double { Double(millis) / 1000 }
    public static func < (a: CPUQuantity, b: CPUQuantity) -> Bool { a.millis < b.millis }
}

/// Memory or storage in bytes. Written `512Mi`, `64Gi`, `1G`, `1073741824`.
public struct ByteQuantity: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var bytes: Int64
    public init(bytes: Int64) { self.bytes = bytes }
    public static func gibibytes(_ n: Int64) -> ByteQuantity { ByteQuantity(bytes: n << 30) }

    public static func parse(_ text: String, allowZero: Bool = false) -> Result<ByteQuantity, QuantityError> {
        QuantityParser.scaled(text, scale: 1, allowZero: allowZero).map(ByteQuantity.init(bytes:))
    }

    /// Canonical Kubernetes form: the largest binary suffix that divides exactly, else a decimal one, else bytes.
    public var description: String {
        if bytes == 0 { return "0" }
        for (suffix, shift) in [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)]
        where bytes % (Int64(1) << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        for (suffix, factor) in [("T", Int64(1_000_000_000_000)), ("G", 1_000_000_000), ("M", 1_000_000), ("k", 1_000)]
        where bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)"
    }

    public var gibibytes: Double { Double(bytes) / Double(1 << 30) }

    /// For people: at most one decimal in the largest binary unit that makes it at least 1 (`23.5Gi`, not `24105Mi`);
    /// exact values stay exact (`64Gi`, `512Mi`).
    public var readable: String {
        for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] where bytes >= Int64(1) << shift {
            let v = Double(bytes) / Double(Int64(1) << shift)
            let tenths = (v * 10).rounded() / 10
            return tenths == tenths.rounded() ? "\(Int64(tenths))\(suffix)" : String(format: "%.1f", tenths) + suffix
        }
        return "\(bytes)B"
    }
    public static func < (a: ByteQuantity, b: ByteQuantity) -> Bool { a.bytes < b.bytes }
}
