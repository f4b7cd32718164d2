/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3); always encoded as an array.
public struct Audience: Codable, Sendable, Hashable {
    public var values: [String]
    public init(_ values: [String]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }

    public func contains(_ a: String) -> Bool { values.contains(a) }
}
