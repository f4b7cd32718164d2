/// One Kubernetes object as rendered: its identity and its full body.
public struct KubeObject: Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String?
    public var labels: [String: String]
    public var annotations: [String: String]
    /// Everything besides apiVersion, kind and metadata (spec, data, rules, ...).
    public var body: [String: KValue]

    public init(_ apiVersion: String, _ kind: String, name: String, namespace: String? = nil,
                labels: [String: String] = [:], annotations: [String: String] = [:], body: [String: KValue] = [:]) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.body = body
    }

    public var value: KValue {
        var metadata: [String: KValue] = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        if !labels.isEmpty { metadata["labels"] = .stringMap(labels) }
        if !annotations.isEmpty { metadata["annotations"] = .stringMap(annotations) }
        var o = body
        o["apiVersion"] = .string(apiVersion)
        o["kind"] = .string(kind)
        o["metadata"] = .object(metadata)
        return .object(o)
    }

    /// Stable file name: `<namespace>/<kind>-<name>.yaml`, cluster-scoped objects under `_cluster/`.
    public var relativePath: String {
        "\(namespace ?? "_cluster")/\(kind.lowercased())-\(name).yaml"
    }

    public var yaml: String { YAMLWriter.document(value) }
}

extension Array where Element == KubeObject {
    /// Sorted by file path: the order in which they are written and compared.
    public func sortedByPath() -> [KubeObject] { sorted { $0.relativePath < $1.relativePath } }
}
