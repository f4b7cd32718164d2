/// Where a decoded value and each of its fields came from, so later checks can point at the exact line.
/// `fields` is keyed by dotted paths relative to the value (`gpus`, `quota.h100`, `datasets.0.name`).
public struct Origin: Hashable, Sendable {
    public var location: SourceLocation?
    public var fields: [String: SourceLocation]
    /// Locations of the keys themselves (useful to point at a whole entry).
    public var keys: [String: SourceLocation]

    public init(location: SourceLocation? = nil, fields: [String: SourceLocation] = [:], keys: [String: SourceLocation] = [:]) {
        self.location = location
        self.fields = fields
        self.keys = keys
    }

    public static let unknown = Origin()

    /// The location of a field's value, or of the nearest enclosing value that has one.
    public func at(_ path: String) -> SourceLocation? {
        if let l = fields[path] { return l }
        var p = Substring(path)
        while let dot = p.lastIndex(of: ".") {
            p = p[..<dot]
            if let l = fields[String(p)] { return l }
        }
        return location
    }

    /// The location of a field's key (`gpus:`), falling back to its value.
    public func key(_ path: String) -> SourceLocation? { keys[path] ?? at(path) }
}
