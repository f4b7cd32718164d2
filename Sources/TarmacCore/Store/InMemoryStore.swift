import Foundation
import Synchronization
import TarmacIdentity
import TarmacDelivery
import TarmacPlanning

/// Every store protocol held in memory, behind one lock: each call is one transaction, as in the SQLite store. For
/// tests and simulations; it passes the same conformance suite (TarmacTesting's `StoreConformance`). Reopening it is
/// keeping the same instance: its state lives as long as it does.
public final class InMemoryStore: Store {
    struct State {
        var workloads: [String: StoredWorkload] = [:]
        var byRequest: [String: String] = [:]
        var transitions: [Transition] = []
        var audit: [AuditRecord] = []
        var tokens: [String: APIToken] = [:]
        var keys: [String: SigningKey] = [:]
        var grants: [String: Grant] = [:]
        var redeemed: Set<String> = []
        var versions: [ModelVersion] = []
        var aliases: [String: ModelAlias] = [:]
        var approvals: [ModelApproval] = []
        var reviews: [DocumentReview] = []
        var rollouts: [String: RolloutRecord] = [:]
        var usage: [String: UsageRow] = [:]
        var usageCursor: Int64 = 0

        mutating func append(_ drafts: [AuditDraft]) {
            for d in drafts {
                audit.append(AuditRecord(seq: Int64(audit.count) + 1, draft: d, previousHash: audit.last?.hash ?? AuditRecord.genesis))
            }
        }

        mutating func append(_ new: [Transition]) -> [Transition] {
            new.map { t in
                var t = t
                t.seq = Int64(transitions.count) + 1
                transitions.append(t)
                return t
            }
        }
    }

    /// A change the store refuses (the SQLite store's constraint errors): nothing of the call is written.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    private let state = Mutex(State())

    public init() {}

    public func loadWorkloads() async throws -> [StoredWorkload] {
        state.withLock { s in
            s.workloads.values.sorted { ($0.entry.createdAt, $0.entry.id) < ($1.entry.createdAt, $1.entry.id) }
        }
    }

    public func insert(_ workload: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?) {
        try state.withLock { s in
            if let r = workload.requestID, let id = s.byRequest[r], let existing = s.workloads[id] {
                return (existing.entry, false, nil)
            }
            guard s.workloads[workload.id] == nil else { throw Refusal(description: "a workload with id \(workload.id) exists") }
            s.workloads[workload.id] = StoredWorkload(entry: workload, plan: plan)
            if let r = workload.requestID { s.byRequest[r] = workload.id }
            s.append([audit])
            return (workload, true, transition.map { s.append([$0])[0] })
        }
    }

    @discardableResult
    public func update(_ workloads: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition] {
        try state.withLock { s in
            for w in workloads where s.workloads[w.id] == nil { throw Refusal(description: "no workload with id \(w.id)") }
            for w in workloads {
                // The plan stays as it is: a plan is written once, at submit.
                s.workloads[w.id]?.entry = w
                if let r = w.requestID { s.byRequest[r] = w.id }
            }
            s.append(audit)
            return s.append(transitions)
        }
    }

    public func transitions(after seq: Int64, limit: Int) async throws -> [Transition] {
        state.withLock { s in Array(s.transitions.dropFirst(Int(max(0, min(seq, Int64(s.transitions.count))))).prefix(max(0, limit))) }
    }

    public func transitionHead() async throws -> Int64 { state.withLock { Int64($0.transitions.count) } }

    public func insertToken(_ token: APIToken, audit: AuditDraft) async throws {
        try state.withLock { s in
            guard s.tokens[token.id] == nil, !s.tokens.values.contains(where: { $0.hash == token.hash }) else {
                throw Refusal(description: "a token with id \(token.id) or its hash exists")
            }
            s.tokens[token.id] = token
            s.append([audit])
        }
    }

    public func token(hash: String) async throws -> APIToken? { state.withLock { s in s.tokens.values.first { $0.hash == hash } } }

    public func tokens() async throws -> [APIToken] {
        state.withLock { s in s.tokens.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func revokeToken(id: String, audit: AuditDraft) async throws -> Bool {
        state.withLock { s in
            guard let t = s.tokens[id], !t.revoked else { return false }
            s.tokens[id]?.revoked = true
            s.append([audit])
            return true
        }
    }

    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        state.withLock { s in
            let matching = s.audit.lazy.filter(query.matches)
            return query.limit.map { Array(matching.prefix($0)) } ?? Array(matching)
        }
    }

    public func auditHead() async throws -> (seq: Int64, hash: String)? { state.withLock { s in s.audit.last.map { ($0.seq, $0.hash) } } }

    public func appendAudit(_ audit: [AuditDraft]) async throws { state.withLock { $0.append(audit) } }

    public func signingKeys() async throws -> [SigningKey] {
        state.withLock { s in s.keys.values.sorted { ($0.createdAt, $0.kid) < ($1.createdAt, $1.kid) } }
    }

    public func saveSigningKeys(_ keys: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws {
        state.withLock { s in
            for k in keys { s.keys[k.kid] = k }
            for kid in deleting { s.keys[kid] = nil }
            s.append(audit)
        }
    }

    public func grants() async throws -> [Grant] { state.withLock { s in s.grants.values.sorted { $0.id < $1.id } } }

    public func saveGrants(_ grants: [Grant], audit: [AuditDraft]) async throws {
        state.withLock { s in
            for g in grants { s.grants[g.id] = g }
            s.append(audit)
        }
    }

    public func register(_ version: ModelVersion, audit: AuditDraft) async throws -> (version: ModelVersion, created: Bool) {
        state.withLock { s in
            if let existing = s.versions.first(where: { $0.team == version.team && $0.model == version.model && $0.version.hasSamePrecedence(as: version.version) }) {
                return (existing, false)
            }
            s.versions.append(version)
            s.append([audit])
            return (version, true)
        }
    }

    public func modelVersions(team: String?, model: String?) async throws -> [ModelVersion] {
        state.withLock { s in
            s.versions.filter { (team == nil || $0.team == team) && (model == nil || $0.model == model) }.sorted(by: ModelVersion.registryOrder)
        }
    }

    public func moveAlias(_ alias: ModelAlias, expected: SemanticVersion?, audit: AuditDraft) async throws -> Bool {
        try state.withLock { s in
            guard s.versions.contains(where: { $0.team == alias.team && $0.model == alias.model && $0.version.hasSamePrecedence(as: alias.version) }) else {
                throw RegistryRefusal("\(alias.model)@\(alias.version) is not registered for team \(alias.team)")
            }
            let key = "\(alias.team)/\(alias.model)@\(alias.name)"
            guard s.aliases[key]?.version == expected else { return false }
            s.aliases[key] = alias
            s.append([audit])
            return true
        }
    }

    public func aliases(team: String, model: String) async throws -> [ModelAlias] {
        state.withLock { s in s.aliases.values.filter { $0.team == team && $0.model == model }.sorted { $0.name < $1.name } }
    }

    public func approve(_ approval: ModelApproval, audit: AuditDraft) async throws -> Bool {
        try state.withLock { s in
            guard s.versions.contains(where: { $0.team == approval.team && $0.model == approval.model && $0.version.hasSamePrecedence(as: approval.version) }) else {
                throw RegistryRefusal("\(approval.model)@\(approval.version) is not registered for team \(approval.team)")
            }
            let same = { (a: ModelApproval) in a.team == approval.team && a.model == approval.model && a.version.hasSamePrecedence(as: approval.version) }
            guard !s.approvals.contains(where: { same($0) && $0.by == approval.by }) else { return false }
            s.approvals.append(approval)
            s.append([audit])
            return true
        }
    }

    public func approvals(team: String, model: String, version: SemanticVersion) async throws -> [ModelApproval] {
        state.withLock { s in s.approvals.filter { $0.team == team && $0.model == model && $0.version.hasSamePrecedence(as: version) } }
    }

    public func review(_ review: DocumentReview, audit: AuditDraft) async throws -> Bool {
        state.withLock { s in
            guard !s.reviews.contains(where: { $0.team == review.team && $0.digest == review.digest && $0.by == review.by }) else { return false }
            s.reviews.append(review)
            s.append([audit])
            return true
        }
    }

    public func reviews(team: String, digest: String) async throws -> [DocumentReview] {
        state.withLock { s in s.reviews.filter { $0.team == team && $0.digest == digest } }
    }

    public func usageCursor() async throws -> Int64 { state.withLock { $0.usageCursor } }

    public func applyUsage(_ batch: UsageBatch) async throws -> Bool {
        state.withLock { s in
            guard batch.through > s.usageCursor else { return false }
            for r in batch.rows {
                if s.usage[r.key] == nil { s.usage[r.key] = r } else { s.usage[r.key]!.add(r) }
            }
            s.usageCursor = batch.through
            return true
        }
    }

    public func addInferenceUsage(_ rows: [UsageRow]) async throws {
        state.withLock { s in
            for r in rows {
                if s.usage[r.key] == nil { s.usage[r.key] = r } else { s.usage[r.key]!.add(r) }
            }
        }
    }

    public func usage(since: String?, until: String?, team: String?) async throws -> [UsageRow] {
        state.withLock { s in
            s.usage.values.filter { r in since.map { r.day >= $0 } ?? true && until.map { r.day < $0 } ?? true && team.map { r.team == $0 } ?? true }
                .sorted { ($0.day, $0.workload) < ($1.day, $1.workload) }
        }
    }

    public func usageTotals(since: String?, until: String?) async throws -> [UsageTotal] {
        var sums: [String: UsageTotal] = [:]
        for r in try await usage(since: since, until: until, team: nil) {
            let key = "\(r.team)|\(r.accelerator ?? "")"
            var t = sums[key] ?? UsageTotal(team: r.team, accelerator: r.accelerator, gpuSeconds: 0, cpuSeconds: 0, memoryGiBSeconds: 0)
            t.gpuSeconds += r.gpuSeconds
            t.cpuSeconds += r.cpuSeconds
            t.memoryGiBSeconds += r.memoryGiBSeconds
            sums[key] = t
        }
        return sums.values.sorted { ($0.team, $0.accelerator ?? "") < ($1.team, $1.accelerator ?? "") }
    }

    public func saveRollout(_ record: RolloutRecord) async throws {
        state.withLock { $0.rollouts["\(record.team)/\(record.service)"] = record }
    }

    public func rollouts() async throws -> [RolloutRecord] {
        state.withLock { s in s.rollouts.values.sorted { ($0.team, $0.service) < ($1.team, $1.service) } }
    }

    public func deleteRollout(team: String, service: String) async throws {
        _ = state.withLock { $0.rollouts.removeValue(forKey: "\(team)/\(service)") }
    }

    public func redeem(_ key: String, audit: AuditDraft) async throws -> Bool {
        state.withLock { s in
            guard s.redeemed.insert(key).inserted else { return false }
            s.append([audit])
            return true
        }
    }
}
