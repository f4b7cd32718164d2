import TarmacManifests

/// REST paths of the kinds Tarmac renders (`/api/v1/...` for the core group, `/apis/GROUP/VERSION/...` otherwise).
public enum ResourcePath {
    /// The plural resource name of a kind, by the API's own rule for the kinds Tarmac uses.
    public static func plural(_ kind: String) -> String {
        let k = kind.lowercased()
        if k.hasSuffix("y") { return k.dropLast() + "ies" }
        if k.hasSuffix("s") { return k + "es" }
        return k + "s"
    }

    public static func group(_ apiVersion: String) -> String {
        apiVersion.contains("/") ? "/apis/" + apiVersion : "/api/" + apiVersion
    }

    /// The collection an object is created in.
    public static func collection(apiVersion: String, kind: String, namespace: String?) -> String {
        group(apiVersion) + (namespace.map { "/namespaces/\($0)" } ?? "") + "/" + plural(kind)
    }

    public static func object(apiVersion: String, kind: String, name: String, namespace: String?) -> String {
        collection(apiVersion: apiVersion, kind: kind, namespace: namespace) + "/" + name
    }

    public static func of(_ o: KubeObject) -> String {
        object(apiVersion: o.apiVersion, kind: o.kind, name: o.name, namespace: o.namespace)
    }
}

extension KValue {
    /// The value as JSONSerialization's `Any` tree.
    public var json: Any {
        switch self {
        case .string(let s): s
        case .int(let i): i
        case .double(let d): d
        case .bool(let b): b
        case .list(let l): l.map(\.json)
        case .object(let o): o.mapValues(\.json)
        }
    }
}

extension KubeObject {
    public var json: [String: Any] { value.json as? [String: Any] ?? [:] }
}
