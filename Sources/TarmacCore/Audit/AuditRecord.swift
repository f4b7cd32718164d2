import Foundation

/// Who did something. Humans and automation act through API tokens; workloads have identities of their own; the
/// scheduler and the lifecycle loop act as the system. The kinds never mix: a workload identity is never a human one.
public struct AuditActor: Codable, Sendable, Hashable, CustomStringConvertible {
    /// `user`: a person; `workload`: a workload's SPIFFE ID; `agent-for`: a person and the agent(s) acting for them;
    /// `system`: Tarmac itself.
    public enum Kind: String, Codable, Sendable, CaseIterable { case user, workload, agentFor = "agent-for", system }
    public var kind: Kind
    public var id: String

    public init(kind: Kind, id: String) {
        self.kind = kind
        self.id = id
    }

    public static let scheduler = AuditActor(kind: .system, id: "scheduler")
    public static let lifecycle = AuditActor(kind: .system, id: "lifecycle")
    /// Idle-GPU reclaim (the contract's environments' `idle` policies).
    public static let idleReclaim = AuditActor(kind: .system, id: "idle-reclaim")
    public var description: String { "\(kind.rawValue):\(id)" }
}

/// An audit record before the store gives it a place in the chain.
public struct AuditDraft: Sendable, Hashable {
    public var time: Date
    public var actor: AuditActor
    public var action: String
    /// `kind/id` of the object acted on.
    public var object: String
    public var before: String
    public var after: String
    public var detail: String
    /// The tool and the workload the record is about, for queries (indexed, outside the hash): by default read from
    /// `object` (`tool/NAME`, `workload/ID`); a grant names both.
    public var tool: String?
    public var workload: String?

    public init(time: Date, actor: AuditActor, action: String, object: String, before: String = "", after: String = "", detail: String = "",
                tool: String? = nil, workload: String? = nil) {
        self.time = time
        self.actor = actor
        self.action = action
        self.object = object
        self.before = before
        self.after = after
        self.detail = detail
        self.tool = tool ?? Self.named("tool/", in: object)
        self.workload = workload ?? Self.named("workload/", in: object)
    }

    static func named(_ prefix: String, in object: String) -> String? {
        object.hasPrefix(prefix) ? String(object.dropFirst(prefix.count)) : nil
    }
}

/// One link of the append-only audit chain: it holds the hash of the record before it.
public struct AuditRecord: Codable, Sendable, Hashable {
    public var seq: Int64
    /// Milliseconds since 1970.
    public var timeMillis: Int64
    public var actorKind: String
    public var actorID: String
    public var action: String
    public var object: String
    /// Digests (SHA-256) of the object before and after the change; empty when there is none.
    public var before: String
    public var after: String
    public var detail: String
    public var previousHash: String
    public var hash: String
    /// What queries filter by (`AuditQuery`): the tool and the workload the record is about. Not covered by the hash:
    /// they index the chain, they are not part of what it proves.
    public var tool: String?
    public var workload: String?

    public init(seq: Int64, draft d: AuditDraft, previousHash: String) {
        self.seq = seq
        timeMillis = AuditQuery.millis(d.time)
        actorKind = d.actor.kind.rawValue
        actorID = d.actor.id
        action = d.action
        object = d.object
        before = d.before
        after = d.after
        detail = d.detail
        self.previousHash = previousHash
        tool = d.tool
        workload = d.workload
        hash = ""
        hash = computedHash
    }

    public init(seq: Int64, timeMillis: Int64, actorKind: String, actorID: String, action: String, object: String, before: String,
                after: String, detail: String, previousHash: String, hash: String, tool: String? = nil, workload: String? = nil) {
        self.seq = seq
        self.timeMillis = timeMillis
        self.actorKind = actorKind
        self.actorID = actorID
        self.action = action
        self.object = object
        self.before = before
        self.after = after
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
        self.tool = tool
        self.workload = workload
    }

    /// The hash over every field but itself, each length-prefixed so no two records can be made to collide by moving text
    /// between fields.
    public var computedHash: String {
        // The bytes of "LEN:FIELD;" for each field, in order.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + actorID.utf8.count + object.utf8.count + detail.utf8.count + before.utf8.count + after.utf8.count)
        for f in [String(seq), String(timeMillis), actorKind, actorID, action, object, before, after, detail, previousHash] {
            bytes.append(contentsOf: String(f.utf8.count).utf8)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: f.utf8)
            bytes.append(UInt8(ascii: ";"))
        }
        return Digest.sha256Hex(bytes)
    }

    /// The hash the first record points back to.
    public static let genesis = String(repeating: "0", count: 64)
}
