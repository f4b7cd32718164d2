import Foundation
import TarmacCore
import TarmacDelivery
import TarmacIdentity
import TarmacPlanning
import TarmacTesting
import Testing

@Suite struct InMemoryStoreConformanceTests {
    @Test(arguments: StoreConformance.cases)
    func inMemoryStore(_ c: ConformanceCase) async throws {
        let store = InMemoryStore()
        try await c.run(StoreUnderTest("memory") { store })
    }

    /// The suite can fail: a store that hands one transition seq out twice is caught, by the case about seqs and by no
    /// case that does not look at them.
    @Test func aStoreThatReusesATransitionSeqFailsTheSuite() async throws {
        var failed: [String] = []
        for c in StoreConformance.cases {
            let broken = FaultyStore(InMemoryStore(), .reusesATransitionSeq)
            do { try await c.run(StoreUnderTest("broken") { broken }) } catch let f as ConformanceFailure {
                failed.append(c.name + " — " + f.check)
            }
        }
        #expect(failed.contains { $0.hasPrefix("transition seqs are gapless") }, "\(failed)")
        #expect(!failed.contains { $0.hasPrefix("tokens are found") || $0.hasPrefix("signing keys") }, "\(failed)")
    }

    /// An audit chain that forgets to link a record to the one before it is caught too.
    @Test func aStoreThatBreaksTheChainFailsTheSuite() async throws {
        let store = InMemoryStore()
        let c = StoreConformance.cases.first { $0.name.hasPrefix("the audit chain") }!
        await #expect(throws: ConformanceFailure.self) { try await c.run(StoreUnderTest("broken") { FaultyStore(store, .forgetsAnAuditLink) }) }
    }
}

/// The in-memory store with one deliberate fault.
final class FaultyStore: Store {
    enum Fault {
        /// Every tenth transition it stores reuses the seq before it.
        case reusesATransitionSeq
        /// The fifth audit record reads back pointing at nothing.
        case forgetsAnAuditLink
    }

    let inner: InMemoryStore
    let fault: Fault
    init(_ inner: InMemoryStore, _ fault: Fault) {
        self.inner = inner
        self.fault = fault
    }

    func renumber(_ ts: [Transition]) -> [Transition] {
        guard fault == .reusesATransitionSeq else { return ts }
        return ts.map { t in
            var t = t
            if t.seq % 10 == 0 { t.seq -= 1 }
            return t
        }
    }

    func auditRecords(_ q: AuditQuery) async throws -> [AuditRecord] {
        try await inner.auditRecords(q).map { r in
            guard fault == .forgetsAnAuditLink, r.seq == 5 else { return r }
            let d = AuditDraft(time: Date(timeIntervalSince1970: Double(r.timeMillis) / 1000), actor: .scheduler, action: r.action, object: r.object, detail: r.detail)
            return AuditRecord(seq: r.seq, draft: d, previousHash: AuditRecord.genesis)
        }
    }

    func insert(_ w: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?) {
        let r = try await inner.insert(w, plan: plan, audit: audit, transition: transition)
        return (r.workload, r.created, r.transition.map { renumber([$0])[0] })
    }
    func update(_ w: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition] {
        renumber(try await inner.update(w, audit: audit, transitions: transitions))
    }
    func transitions(after seq: Int64, limit: Int) async throws -> [Transition] { renumber(try await inner.transitions(after: seq, limit: limit)) }

    // Everything else as the in-memory store does it.
    func loadWorkloads() async throws -> [StoredWorkload] { try await inner.loadWorkloads() }
    func transitionHead() async throws -> Int64 { try await inner.transitionHead() }
    func insertToken(_ t: APIToken, audit: AuditDraft) async throws { try await inner.insertToken(t, audit: audit) }
    func token(hash: String) async throws -> APIToken? { try await inner.token(hash: hash) }
    func tokens() async throws -> [APIToken] { try await inner.tokens() }
    func revokeToken(id: String, audit: AuditDraft) async throws -> Bool { try await inner.revokeToken(id: id, audit: audit) }
    func auditHead() async throws -> (seq: Int64, hash: String)? { try await inner.auditHead() }
    func appendAudit(_ a: [AuditDraft]) async throws { try await inner.appendAudit(a) }
    func signingKeys() async throws -> [SigningKey] { try await inner.signingKeys() }
    func saveSigningKeys(_ k: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws { try await inner.saveSigningKeys(k, deleting: deleting, audit: audit) }
    func grants() async throws -> [Grant] { try await inner.grants() }
    func saveGrants(_ g: [Grant], audit: [AuditDraft]) async throws { try await inner.saveGrants(g, audit: audit) }
    func redeem(_ key: String, audit: AuditDraft) async throws -> Bool { try await inner.redeem(key, audit: audit) }
    func register(_ v: ModelVersion, audit: AuditDraft) async throws -> (version: ModelVersion, created: Bool) { try await inner.register(v, audit: audit) }
    func modelVersions(team: String?, model: String?) async throws -> [ModelVersion] { try await inner.modelVersions(team: team, model: model) }
    func moveAlias(_ a: ModelAlias, expected: SemanticVersion?, audit: AuditDraft) async throws -> Bool { try await inner.moveAlias(a, expected: expected, audit: audit) }
    func aliases(team: String, model: String) async throws -> [ModelAlias] { try await inner.aliases(team: team, model: model) }
    func approve(_ a: ModelApproval, audit: AuditDraft) async throws -> Bool { try await inner.approve(a, audit: audit) }
    func approvals(team: String, model: String, version: SemanticVersion) async throws -> [ModelApproval] {
        try await inner.approvals(team: team, model: model, version: version)
    }
    func review(_ r: DocumentReview, audit: AuditDraft) async throws -> Bool { try await inner.review(r, audit: audit) }
    func reviews(team: String, digest: String) async throws -> [DocumentReview] { try await inner.reviews(team: team, digest: digest) }
    func usageCursor() async throws -> Int64 { try await inner.usageCursor() }
    func applyUsage(_ batch: UsageBatch) async throws -> Bool { try await inner.applyUsage(batch) }
    func addInferenceUsage(_ rows: [UsageRow]) async throws { try await inner.addInferenceUsage(rows) }
    func usage(since: String?, until: String?, team: String?) async throws -> [UsageRow] { try await inner.usage(since: since, until: until, team: team) }
    func usageTotals(since: String?, until: String?) async throws -> [UsageTotal] { try await inner.usageTotals(since: since, until: until) }
    func saveRollout(_ record: RolloutRecord) async throws { try await inner.saveRollout(record) }
    func rollouts() async throws -> [RolloutRecord] { try await inner.rollouts() }
    func deleteRollout(team: String, service: String) async throws { try await inner.deleteRollout(team: team, service: service) }
}
