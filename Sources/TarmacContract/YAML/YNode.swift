import TarmacModel

/// A YAML node with the position it was read from. Mapping keys keep their order and their own positions.
/// Trees from several files can be merged; every leaf keeps the file it came from (that is the provenance).
public struct YNode: Sendable {
    public enum Value: Sendable {
        /// A scalar's text and whether it was plain (unquoted), which decides whether `true` or `8` are typed.
        case scalar(String, plain: Bool)
        case mapping([Entry])
        case sequence([YNode])
    }

    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: YNode
        public init(key: String, keyLocation: SourceLocation, value: YNode) {
            self.key = key
            self.keyLocation = keyLocation
            self.value = value
        }
    }

    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    public static func scalar(_ s: String, plain: Bool = false, at location: SourceLocation) -> YNode {
        YNode(.scalar(s, plain: plain), at: location)
    }

    public var isNull: Bool {
        if case .scalar(let s, let plain) = value, plain { return ["", "~", "null", "Null", "NULL"].contains(s) }
        return false
    }

    public var entries: [Entry]? {
        if case .mapping(let e) = value { return e }
        return nil
    }

    public var items: [YNode]? {
        if case .sequence(let i) = value { return i }
        return nil
    }

    /// The scalar's text, unless the node is null or not a scalar.
    public var text: String? {
        if case .scalar(let s, _) = value, !isNull { return s }
        return nil
    }

    public var isPlainScalar: Bool {
        if case .scalar(_, let plain) = value { return plain }
        return false
    }

    public subscript(key: String) -> YNode? {
        guard let entries else { return nil }
        return entries.first(where: { $0.key == key })?.value
    }

    public func entry(_ key: String) -> Entry? { entries?.first(where: { $0.key == key }) }

    /// Follows a dotted path (`spec.sizes.training`); numeric components index sequences.
    public func at(_ path: [String]) -> YNode? {
        var node: YNode? = self
        for p in path {
            if let items = node?.items, let i = Int(p) {
                node = i >= 0 && i < items.count ? items[i] : nil
            } else {
                node = node?[p]
            }
        }
        return node
    }

    public var kindName: String {
        switch value {
        case .scalar: isNull ? "null" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }

    /// Returns a copy with `key` set to `value` (replacing or appending).
    public func setting(_ key: String, to newValue: YNode, keyLocation: SourceLocation? = nil) -> YNode {
        var entries = self.entries ?? []
        if let i = entries.firstIndex(where: { $0.key == key }) {
            entries[i].value = newValue
        } else {
            entries.append(Entry(key: key, keyLocation: keyLocation ?? newValue.location, value: newValue))
        }
        return YNode(.mapping(entries), at: location)
    }

    public func removing(_ key: String) -> YNode {
        guard let entries else { return self }
        return YNode(.mapping(entries.filter { $0.key != key }), at: location)
    }

    /// Every scalar leaf with its dotted path, in document order.
    public func leaves(prefix: String = "") -> [(path: String, node: YNode)] {
        switch value {
        case .scalar: return [(prefix, self)]
        case .mapping(let entries):
            if entries.isEmpty { return [(prefix, self)] }
            return entries.flatMap { $0.value.leaves(prefix: prefix.isEmpty ? $0.key : prefix + "." + $0.key) }
        case .sequence(let items):
            if items.isEmpty { return [(prefix, self)] }
            return items.enumerated().flatMap { $0.element.leaves(prefix: prefix + "." + String($0.offset)) }
        }
    }

    /// Locations of this node's descendants by relative dotted path, for `Origin`.
    public func origin() -> Origin {
        var fields: [String: SourceLocation] = [:]
        var keys: [String: SourceLocation] = [:]
        func walk(_ n: YNode, _ prefix: String, depth: Int) {
            guard depth < 8 else { return }
            switch n.value {
            case .scalar: break
            case .mapping(let entries):
                for e in entries {
                    let p = prefix.isEmpty ? e.key : prefix + "." + e.key
                    fields[p] = e.value.location
                    keys[p] = e.keyLocation
                    walk(e.value, p, depth: depth + 1)
                }
            case .sequence(let items):
                for (i, item) in items.enumerated() {
                    let p = prefix.isEmpty ? String(i) : prefix + "." + String(i)
                    fields[p] = item.location
                    walk(item, p, depth: depth + 1)
                }
            }
        }
        walk(self, "", depth: 0)
        return Origin(location: location, fields: fields, keys: keys)
    }
}
