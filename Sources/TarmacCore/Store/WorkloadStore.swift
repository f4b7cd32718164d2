import Foundation
import TarmacPlanning

/// Workloads and their transitions. Every method is one transaction: a change, its transitions and its audit records
/// land together or not at all (the audit records go onto the same chain as `AuditStore`'s).
public protocol WorkloadStore: Sendable {
    /// Every workload, oldest first, with its resolved plan where one was stored (rows written before plans were
    /// stored have none: the control plane resolves their document once more).
    func loadWorkloads() async throws -> [StoredWorkload]
    /// Inserts a new workload with its plan, unless one with the same request id exists: then nothing is written and
    /// that one is returned with `created == false`. The transition is stored (and returned with its `seq`) only when created.
    func insert(_ workload: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?)
    /// Replaces workloads (by id; each must exist), appends audit records and transitions; returns the transitions with
    /// their `seq`, which continue the stored ones without a gap.
    @discardableResult
    func update(_ workloads: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition]
    /// Stored transitions after `seq`, in order, at most `limit`.
    func transitions(after seq: Int64, limit: Int) async throws -> [Transition]
    /// The `seq` of the last stored transition (0 when there is none).
    func transitionHead() async throws -> Int64
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

extension WorkloadStore {
    public func insert(_ workload: WorkloadEntry, audit: AuditDraft) async throws -> (workload: WorkloadEntry, created: Bool) {
        let r = try await insert(workload, plan: nil, audit: audit, transition: nil)
        return (r.workload, r.created)
    }

    public func update(_ workloads: [WorkloadEntry], audit: [AuditDraft]) async throws {
        try await update(workloads, audit: audit, transitions: [])
    }
}
