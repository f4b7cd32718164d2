import Foundation

/// Which audit records to read: each condition is a stored, indexed column (time, actor kind and id, action, tool,
/// workload), never text inside `detail`. Conditions combine with AND; records come in chain order.
public struct AuditQuery: Sendable, Hashable {
    /// From this time on (inclusive).
    public var since: Date?
    /// Before this time (exclusive).
    public var until: Date?
    /// `KIND:ID`, a prefix of it, or a prefix of the actor's id (`alice`, `user:al`, `agent-for:`).
    public var actor: String?
    public var action: String?
    /// Records about this tool: calls through the gateway, token exchanges for it, grants of it.
    public var tool: String?
    /// Records about this workload (its id).
    public var workload: String?
    /// At most this many (the first ones that match, in chain order).
    public var limit: Int?

    public init(since: Date? = nil, until: Date? = nil, actor: String? = nil, action: String? = nil, tool: String? = nil, workload: String? = nil,
                limit: Int? = nil) {
        self.since = since
        self.until = until
        self.actor = actor
        self.action = action
        self.tool = tool
        self.workload = workload
        self.limit = limit
    }

    /// The actor condition as columns: kinds that match whole, or one kind with an id prefix, or an id prefix alone.
    /// A record matches when `KIND:ID` starts with the text or its id does (kinds never hold a colon).
    public struct ActorCondition: Sendable, Hashable {
        /// Records of these kinds match whatever their id.
        public var kinds: [String]
        /// Records of this kind whose id starts with `idPrefix` match.
        public var kind: String?
        public var kindIDPrefix: String
        /// Records whose id starts with this match whatever their kind.
        public var idPrefix: String
    }

    public var actorCondition: ActorCondition? {
        guard let q = actor else { return nil }
        if let colon = q.firstIndex(of: ":") {
            return ActorCondition(kinds: [], kind: String(q[..<colon]), kindIDPrefix: String(q[q.index(after: colon)...]), idPrefix: q)
        }
        return ActorCondition(kinds: AuditActor.Kind.allCases.map(\.rawValue).filter { $0.hasPrefix(q) }, kind: nil, kindIDPrefix: "", idPrefix: q)
    }

    /// Whether one record matches: the meaning every store's query must have (the conformance suite compares them).
    public func matches(_ r: AuditRecord) -> Bool {
        if let since, r.timeMillis < Self.millis(since) { return false }
        if let until, r.timeMillis >= Self.millis(until) { return false }
        if let action, r.action != action { return false }
        if let tool, r.tool != tool { return false }
        if let workload, r.workload != workload { return false }
        if let a = actorCondition {
            let byKind = a.kinds.contains(r.actorKind) || (a.kind == r.actorKind && r.actorID.hasPrefix(a.kindIDPrefix))
            guard byKind || r.actorID.hasPrefix(a.idPrefix) else { return false }
        }
        return true
    }

    /// A time as the chain stores it: milliseconds since 1970.
    public static func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
}
