/// A JSON-shaped value for Kubernetes objects. Objects are unordered; the writer sorts keys, so output is deterministic.
public indirect enum KValue: Sendable, Equatable, Codable,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([KValue])
    case object([String: KValue])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: KValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, KValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    public subscript(key: String) -> KValue? {
        get {
            if case .object(let o) = self { return o[key] }
            return nil
        }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var list: [KValue]? {
        if case .list(let l) = self { return l }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let i = try? c.decode(Int.self) { self = .int(i) } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) { self = .string(s) } else if let l = try? c.decode([KValue].self) { self = .list(l) } else {
            self = .object(try c.decode([String: KValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .list(let l): try c.encode(l)
        case .object(let o): try c.encode(o)
        }
    }

    /// `{"a": x}` for each pair with a non-nil value: for optional fields.
    public static func compact(_ pairs: [(String, KValue?)]) -> KValue {
        var o: [String: KValue] = [:]
        for (k, v) in pairs { if let v { o[k] = v } }
        return .object(o)
    }

    public static func strings(_ s: [String]) -> KValue { .list(s.map(KValue.string)) }
    public static func stringMap(_ m: [String: String]) -> KValue { .object(m.mapValues(KValue.string)) }
}
