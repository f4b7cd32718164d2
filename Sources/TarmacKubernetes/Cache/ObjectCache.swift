/// Objects of several resources as the last list and the watches since have them: each resource's objects by key,
/// which resources have had their first list, and each watch's last error. A value its owner (a backend actor) holds;
/// `apply` is the one way in. One cache per cluster: a second cluster is a second cache.
public struct ObjectCache {
    public private(set) var objects: [WatchedResource: [String: [String: Any]]] = [:]
    public private(set) var synced: Set<WatchedResource> = []
    public private(set) var errors: [WatchedResource: String] = [:]
    public let resources: [WatchedResource]

    public init(_ resources: [WatchedResource]) {
        self.resources = resources
        for r in resources { objects[r] = [:] }
    }

    /// A resource's objects by key.
    public subscript(_ r: WatchedResource) -> [String: [String: Any]] { objects[r] ?? [:] }

    /// Every resource has had its first list.
    public var isSynced: Bool { synced.count == resources.count }

    /// What one event changed: the object before and after (nil: absent), or everything (a list read again).
    public enum Change {
        case object(before: [String: Any]?, after: [String: Any]?)
        case relisted
        case ignored
    }

    /// Applies one event of `r`'s watch.
    @discardableResult
    public mutating func apply(_ event: WatchEvent, to r: WatchedResource) -> Change {
        switch event {
        case .relisted(let all):
            var fresh: [String: [String: Any]] = [:]
            for o in all { if let k = r.key(of: o.value) { fresh[k] = o.value } }
            objects[r] = fresh
            synced.insert(r)
            errors[r] = nil
            return .relisted
        case .added(let o), .modified(let o):
            guard let k = r.key(of: o.value) else { return .ignored }
            let before = objects[r]?[k]
            objects[r, default: [:]][k] = o.value
            return .object(before: before, after: o.value)
        case .deleted(let o):
            guard let k = r.key(of: o.value) else { return .ignored }
            let before = objects[r]?[k]
            objects[r]?[k] = nil
            return .object(before: before, after: nil)
        }
    }

    /// A watch failed (it is retried): kept to explain a first list that does not arrive.
    public mutating func failed(_ r: WatchedResource, _ error: any Error) { errors[r] = "\(error)" }
}
