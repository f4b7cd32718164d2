import Foundation

/// One record of the hash-chained audit trail (`GET /v1/audit`).
public struct AuditView: Codable, Sendable, Hashable {
    public var seq: Int64
    public var time: Date
    /// user, workload or system.
    public var actorKind: String
    public var actorID: String
    public var action: String
    public var object: String
    public var before: String
    public var after: String
    public var detail: String
    public var previousHash: String
    public var hash: String

    public init(seq: Int64, time: Date, actorKind: String, actorID: String, action: String, object: String, before: String, after: String,
                detail: String, previousHash: String, hash: String) {
        self.seq = seq
        self.time = time
        self.actorKind = actorKind
        self.actorID = actorID
        self.action = action
        self.object = object
        self.before = before
        self.after = after
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }
}

public struct AuditList: Codable, Sendable, Hashable {
    public var items: [AuditView]
    public init(items: [AuditView]) { self.items = items }
}

/// The result of checking the audit chain (`GET /v1/audit/verify`, `tarmac audit verify`).
public struct AuditVerification: Codable, Sendable, Hashable {
    public var ok: Bool
    public var records: Int
    /// The hash of the last record: write it down somewhere else to detect a rewrite of the whole tail.
    public var head: String
    /// The first bad record (its sequence number as stored) and what is wrong with it.
    public var firstBad: Int64?
    public var problem: String?
    /// Every problem found, in chain order (anchor problems last).
    public var problems: [Problem]
    /// Anchors checked (0 when none was given).
    public var anchorsChecked: Int

    public struct Problem: Codable, Sendable, Hashable {
        public var seq: Int64
        public var message: String
        public init(seq: Int64, message: String) {
            self.seq = seq
            self.message = message
        }
    }

    public init(ok: Bool, records: Int, head: String, firstBad: Int64?, problem: String?, problems: [Problem], anchorsChecked: Int) {
        self.ok = ok
        self.records = records
        self.head = head
        self.firstBad = firstBad
        self.problem = problem
        self.problems = problems
        self.anchorsChecked = anchorsChecked
    }
}
