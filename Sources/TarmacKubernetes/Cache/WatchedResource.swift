/// A kind of object kept current by list+watch, and how the cache keys its objects.
public struct WatchedResource: Hashable, Sendable, CustomStringConvertible {
    public enum Key: Hashable, Sendable {
        /// `metadata.name` (cluster-scoped objects: nodes).
        case name
        /// `namespace/name`.
        case namespacedName
        /// The value of a label (objects that carry their owner's id); objects without it are not kept.
        case label(String)
    }

    public var name: String
    /// The collection's path (`/api/v1/pods`).
    public var path: String
    public var labelSelector: String?
    public var key: Key

    public init(_ name: String, path: String, labelSelector: String? = nil, key: Key) {
        self.name = name
        self.path = path
        self.labelSelector = labelSelector
        self.key = key
    }

    public var description: String { name }

    /// The cache key of one object (nil: not kept).
    public func key(of o: [String: Any]) -> String? {
        let meta = o["metadata"] as? [String: Any]
        switch key {
        case .name: return meta?["name"] as? String
        case .namespacedName: return "\(meta?["namespace"] as? String ?? "")/\(meta?["name"] as? String ?? "")"
        case .label(let l): return (meta?["labels"] as? [String: String])?[l] ?? (meta?["labels"] as? [String: Any])?[l] as? String
        }
    }
}
