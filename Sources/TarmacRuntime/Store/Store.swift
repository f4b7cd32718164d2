import Foundation
import TarmacAPI
import TarmacIdentity
import TarmacPlanning

/// The control plane's durable state. Every method is one transaction: a change and its audit records land together or
/// not at all. Implementations append audit records to the hash chain inside that transaction.
public protocol Store: Sendable {
    /// Every workload, oldest first, with its resolved plan where one was stored (rows written before plans were
    /// stored have none: the control plane resolves their document once more).
    func loadWorkloads() async throws -> [StoredWorkload]
    /// Inserts a new workload with its plan, unless one with the same request id exists: then nothing is written and
    /// that one is returned with `created == false`. The transition is stored (and returned with its `seq`) only when created.
    func insert(_ workload: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?)
    /// Replaces workloads (by id), appends audit records and transitions; returns the transitions with their `seq`.
    @discardableResult
    func update(_ workloads: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition]
    /// Stored transitions after `seq`, in order, at most `limit`.
    func transitions(after seq: Int64, limit: Int) async throws -> [Transition]
    /// The `seq` of the last stored transition (0 when there is none).
    func transitionHead() async throws -> Int64

    func insertToken(_ token: APIToken, audit: AuditDraft) async throws
    func token(hash: String) async throws -> APIToken?
    func tokens() async throws -> [APIToken]
    func revokeToken(id: String, audit: AuditDraft) async throws -> Bool

    /// Audit records in chain order, from `since` (inclusive), at most `limit`.
    func auditRecords(since: Date?, limit: Int?) async throws -> [AuditRecord]
    /// The last record of the chain (nil while it is empty).
    func auditHead() async throws -> (seq: Int64, hash: String)?
    /// Appends audit records that belong to no other change.
    func appendAudit(_ audit: [AuditDraft]) async throws

    /// Signing keys of workload credentials, sealed (TarmacIdentity).
    func signingKeys() async throws -> [SigningKey]
    /// Inserts or replaces keys and deletes others (by kid), with their audit records.
    func saveSigningKeys(_ keys: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws
    /// Every grant of every agent.
    func grants() async throws -> [Grant]
    /// Inserts or replaces grants (by id), with their audit records.
    func saveGrants(_ grants: [Grant], audit: [AuditDraft]) async throws
    /// Marks a one-time credential (an identity bootstrap) used; false when it was used before. With its audit record.
    func redeem(_ key: String, audit: AuditDraft) async throws -> Bool
}

/// A workload as stored: its entry and, when one was stored, its resolved plan.
public struct StoredWorkload: Sendable {
    public var entry: WorkloadEntry
    public var plan: WorkloadPlan?
    public init(entry: WorkloadEntry, plan: WorkloadPlan?) {
        self.entry = entry
        self.plan = plan
    }
}

extension Store {
    public func insert(_ workload: WorkloadEntry, audit: AuditDraft) async throws -> (workload: WorkloadEntry, created: Bool) {
        let r = try await insert(workload, plan: nil, audit: audit, transition: nil)
        return (r.workload, r.created)
    }

    public func update(_ workloads: [WorkloadEntry], audit: [AuditDraft]) async throws {
        try await update(workloads, audit: audit, transitions: [])
    }
}

/// Errors with a code for the API layer to map.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalid, notFound, conflict, forbidden, unauthorized, unavailable, internalError
    }
    public var code: Code
    public var message: String
    /// Validation problems, when `code == .invalid`.
    public var diagnostics: [DiagnosticPayload]

    public init(_ code: Code, _ message: String, diagnostics: [DiagnosticPayload] = []) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }

    public var description: String { message }
}
