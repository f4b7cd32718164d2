/// A description of a document's shape. One description drives two things:
/// the strict checker (unknown fields, types, required fields, with positions) and the published JSON Schema.
public indirect enum Schema: Sendable {
    case object(ObjectSchema)
    /// A mapping with free keys (names), all values of one schema.
    case map(keys: KeyRule, values: Schema, description: String)
    case list(Schema, description: String, minItems: Int = 0)
    case scalar(ScalarType, description: String)

    /// The same shape with no field required: for layers that change only some values.
    public var partial: Schema {
        switch self {
        case .object(var o):
            o.fields = o.fields.map { Field($0.name, $0.schema.partial, required: false) }
            return .object(o)
        case .map(let k, let v, let d): return .map(keys: k, values: v.partial, description: d)
        case .list(let e, let d, let m): return .list(e.partial, description: d, minItems: m)
        case .scalar: return self
        }
    }

    public var description: String {
        switch self {
        case .object(let o): o.description
        case .map(_, _, let d), .list(_, let d, _), .scalar(_, let d): d
        }
    }
}

public struct ObjectSchema: Sendable {
    public var description: String
    public var fields: [Field]
    /// Fields that are refused with a guardrail rule rather than "unknown field".
    public var forbidden: [Forbidden]

    public init(_ description: String, _ fields: [Field], forbidden: [Forbidden] = []) {
        self.description = description
        self.fields = fields
        self.forbidden = forbidden
    }

    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }
}

public struct Field: Sendable {
    public var name: String
    public var schema: Schema
    public var required: Bool

    public init(_ name: String, _ schema: Schema, required: Bool = false) {
        self.name = name
        self.schema = schema
        self.required = required
    }
}

public struct Forbidden: Sendable {
    public var names: [String]
    public var rule: String
    public var message: String
    public var help: String
    public init(_ names: [String], rule: String, message: String, help: String) {
        self.names = names
        self.rule = rule
        self.message = message
        self.help = help
    }
}

/// How the keys of a free-form mapping are checked.
public enum KeyRule: Sendable {
    /// A Kubernetes-style name (RFC 1123 label).
    case name
    /// An environment variable name.
    case envVar
    /// A Kubernetes label key (optional DNS prefix, '/', name).
    case labelKey
    /// Anything.
    case any
}

public enum ScalarType: Sendable {
    case string
    case name
    case email
    case image
    case model
    case absolutePath
    case relativePath
    case cidr
    case url
    case labelKey
    case cpu
    case bytes
    case gpus
    case duration
    case integer(min: Int, max: Int)
    case number(min: Double)
    case bool
    case oneOf([String])
    case replicas
    case constant(String)
    /// A quota amount whose unit depends on its key (GPUs for accelerators, CPU, bytes).
    case quotaAmount
}
