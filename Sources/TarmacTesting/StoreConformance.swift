import Crypto
import TarmacKinds
import Foundation
import TarmacContract
import TarmacCore
import TarmacDelivery
import TarmacIdentity
import TarmacPlanning

/// A store to check: `open` opens its durable state, and opening it again is a restart (the SQLite store: the same
/// file; the in-memory store: the same instance).
public struct StoreUnderTest: Sendable {
    public var name: String
    public var open: @Sendable () async throws -> any Store
    public init(_ name: String, open: @escaping @Sendable () async throws -> any Store) {
        self.name = name
        self.open = open
    }
}

/// One behaviour every store must have.
public struct ConformanceCase: Sendable, CustomStringConvertible {
    public var name: String
    public var run: @Sendable (StoreUnderTest) async throws -> Void
    public var description: String { name }
}

/// What a store did that the protocols forbid: which case, and what was seen.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var check: String
    public var seen: String
    public var description: String { "\(check): \(seen)" }
}

/// The conformance suite of the store protocols (`WorkloadStore`, `AuditStore`, `TokenStore`, `IdentityStore`). Each
/// case opens a fresh store and throws a `ConformanceFailure` naming what went wrong; a test target runs every case
/// against its store (SQLite, in memory, PostgreSQL).
public enum StoreConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase(name: "workloads load oldest first, with the plan stored at submit", run: workloadsLoadInOrderWithTheirPlans),
        ConformanceCase(name: "a request id is idempotent: the second insert writes nothing", run: requestIDsAreIdempotent),
        ConformanceCase(name: "concurrent inserts, some with a request id used before or at once, each create once", run: concurrentInsertsCreateOnce),
        ConformanceCase(name: "an update naming a missing workload writes nothing", run: updatesAreAllOrNothing),
        ConformanceCase(name: "transition seqs are gapless and unique under concurrent writers", run: transitionSeqsAreGapless),
        ConformanceCase(name: "the audit chain links every record under concurrent writers", run: auditChainHoldsUnderConcurrentWriters),
        ConformanceCase(name: "audit queries return what the query's meaning selects, in chain order", run: auditQueriesMatchTheirMeaning),
        ConformanceCase(name: "tokens are found by hash, listed oldest first and revoked once", run: tokensBehave),
        ConformanceCase(name: "signing keys, grants and one-time redemptions", run: identityBehaves),
        ConformanceCase(name: "a model version is registered once and versions list by precedence", run: versionsAreRegisteredOnce),
        ConformanceCase(name: "an alias moves by compare-and-set: one of concurrent movers wins", run: aliasesMoveByCompareAndSet),
        ConformanceCase(name: "an approval is kept once per person and version, of a registered version", run: approvalsAreKeptOncePerPerson),
        ConformanceCase(name: "a document review is kept once per person, team and digest", run: reviewsAreKeptOncePerPerson),
        ConformanceCase(name: "usage adds up per workload and day, and a batch at or before the cursor is not applied twice", run: usageIsAppliedOnce),
        ConformanceCase(name: "a service's rollout is replaced by the next, listed by team and service, and forgotten on delete", run: rolloutsAreKeptPerService),
        ConformanceCase(name: "a restart replays everything that was written", run: restartReplaysEverything),
    ]

    // MARK: the cases

    static func workloadsLoadInOrderWithTheirPlans(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        try expect(plan != nil, "the example plan resolves", "it does not: the suite would not check plans")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        // Inserted newest first: loading orders by creation time, then id.
        let entries = [entry("wl-c", at: start.addingTimeInterval(20)), entry("wl-b", at: start), entry("wl-a", at: start)]
        for (i, e) in entries.enumerated() {
            _ = try await store.insert(e, plan: i == 0 ? plan : nil, audit: draft("submit", "workload/\(e.id)", at: e.createdAt), transition: nil)
        }
        let loaded = try await store.loadWorkloads()
        try expect(loaded.map(\.entry.id) == ["wl-a", "wl-b", "wl-c"], "load order", "got \(loaded.map(\.entry.id))")
        try expect(loaded.map(\.entry) == [entries[2], entries[1], entries[0]], "entries round-trip", "an entry came back changed")
        try expect(same(loaded[2].plan, plan) && loaded[0].plan == nil && loaded[1].plan == nil, "plans round-trip", "plans \(loaded.map { $0.plan != nil })")
        var changed = entries[0]
        changed.state = .admitted
        changed.attempt = 1
        changed.placements = [PodPlacement(node: "n-1", gpus: [0, 1], gpuMilli: 1000)]
        changed.lastCheckpoint = CheckpointMark(at: start, attempt: 1, step: 7, location: "s3://x")
        try await store.update([changed], audit: [])
        let after = try await store.loadWorkloads()
        try expect(after.last?.entry == changed, "an update replaces the entry", "got \(String(describing: after.last?.entry.state))")
        try expect(same(after.last?.plan, plan), "an update keeps the stored plan", "the plan is gone")
    }

    static func requestIDsAreIdempotent(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        var first = entry("wl-1", at: .init(timeIntervalSince1970: 1_800_000_000))
        first.requestID = WorkloadEntry.scopedRequestID("req-1", scope: "team:search")
        var second = entry("wl-2", at: first.createdAt)
        second.requestID = first.requestID
        let t1 = Transition("submit", before: nil, after: first, at: first.createdAt)
        let a = try await store.insert(first, plan: nil, audit: draft("submit", "workload/wl-1"), transition: t1)
        try expect(a.created && a.transition?.seq == 1, "the first insert creates", "created \(a.created), seq \(String(describing: a.transition?.seq))")
        let head = try await store.auditHead()
        let b = try await store.insert(second, plan: nil, audit: draft("submit", "workload/wl-2"), transition: Transition("submit", before: nil, after: second, at: first.createdAt))
        try expect(!b.created && b.workload.id == "wl-1" && b.transition == nil, "the second returns the first", "created \(b.created), id \(b.workload.id)")
        try expect(try await store.loadWorkloads().map(\.entry.id) == ["wl-1"], "nothing new is stored", "two workloads")
        try expect(try await store.transitionHead() == 1, "no transition is written", "head \(try await store.transitionHead())")
        try expect(try await store.auditHead()?.seq == head?.seq, "no audit record is written", "the chain grew")
        // A different id, or no id at all, creates.
        var third = entry("wl-3", at: first.createdAt)
        third.requestID = WorkloadEntry.scopedRequestID("req-1", scope: "admin")
        try expect(try await store.insert(third, audit: draft("submit", "workload/wl-3")).created, "another scope's id creates", "it was refused")
    }

    /// Submits arriving together (a store may write them in one statement): pairs share a request id, one id was used
    /// before; each id creates one workload, with one transition and one audit record, and the others get it back.
    static func concurrentInsertsCreateOnce(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        var used = entry("wl-used", at: at, requestID: "team:search\u{1F}req-0")
        used.name = "used"
        _ = try await store.insert(used, plan: nil, audit: draft("submit", "workload/wl-used"), transition: Transition("submit", before: nil, after: used, at: at))
        let results = try await withThrowingTaskGroup(of: (String, String, Bool, Int64?).self) { group in
            for i in 0..<24 {
                group.addTask {
                    // Ids 0...7, each sent three times (id 0 was used before); some without an id at all.
                    let request: String? = i % 6 == 5 ? nil : "team:search\u{1F}req-\(i % 8)"
                    let e = entry("wl-\(i)", at: at, requestID: request)
                    let r = try await store.insert(e, plan: nil, audit: draft("submit", "workload/\(e.id)"), transition: Transition("submit", before: nil, after: e, at: at))
                    return (request ?? "none-\(i)", r.workload.id, r.created, r.transition?.seq)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var winners: [String: String] = [:]
        for (request, id, created, _) in results where created {
            try expect(winners[request] == nil, "one insert per request id creates", "\(request) created twice")
            winners[request] = id
        }
        try expect(winners["team:search\u{1F}req-0"] == nil, "an id used before creates nothing", "it created \(winners["team:search\u{1F}req-0"] ?? "")")
        for (request, id, created, seq) in results where !created {
            let expected = request == "team:search\u{1F}req-0" ? "wl-used" : winners[request]
            try expect(id == expected && seq == nil, "a replay gets the workload its id made, and no transition", "\(request): \(id), expected \(expected ?? "none")")
        }
        let stored = try await store.loadWorkloads().map(\.entry.id)
        try expect(Set(stored) == Set(winners.values).union(["wl-used"]) && stored.count == winners.count + 1, "the store holds the creators only",
                   "\(stored.sorted()) vs \(winners.values.sorted())")
        let transitions = try await store.transitions(after: 0, limit: 1000)
        try expect(transitions.map(\.seq) == Array(1...Int64(winners.count + 1)), "one transition per created workload, gapless", "\(transitions.map(\.seq))")
        try expect(Set(transitions.map(\.workload)) == Set(stored), "each created workload's transition", "\(transitions.map(\.workload))")
        let records = try await store.auditRecords(AuditQuery())
        try expect(records.count == winners.count + 1, "one audit record per created workload", "\(records.count) records")
        var previous = AuditRecord.genesis
        for r in records {
            try expect(r.previousHash == previous && r.hash == r.computedHash, "the chain holds", "record \(r.seq) breaks it")
            previous = r.hash
        }
    }

    static func updatesAreAllOrNothing(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let e = entry("wl-1", at: .init(timeIntervalSince1970: 1_800_000_000))
        _ = try await store.insert(e, audit: draft("submit", "workload/wl-1"))
        let head = try await store.auditHead()
        var changed = e
        changed.state = .cancelled
        let missing = entry("wl-missing", at: e.createdAt)
        var refused = false
        do {
            try await store.update([changed, missing], audit: [draft("cancel", "workload/wl-1")],
                                   transitions: [Transition("cancel", before: e, after: changed, at: e.createdAt)])
        } catch { refused = true }
        try expect(refused, "an update naming a missing workload fails", "it succeeded")
        try expect(try await store.loadWorkloads().first?.entry.state == .queued, "the other workload is unchanged", "it was written")
        try expect(try await store.transitionHead() == 0, "no transition is written", "head \(try await store.transitionHead())")
        try expect(try await store.auditHead()?.seq == head?.seq, "no audit record is written", "the chain grew")
    }

    static func transitionSeqsAreGapless(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let writers = 8, rounds = 12
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let returned = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for w in 0..<writers {
                group.addTask {
                    var seqs: [Int64] = []
                    var e = entry("wl-\(w)", at: at)
                    let r = try await store.insert(e, plan: nil, audit: draft("submit", "workload/\(e.id)"), transition: Transition("submit", before: nil, after: e, at: at))
                    seqs.append(r.transition?.seq ?? -1)
                    for i in 0..<rounds {
                        let before = e
                        e.attempt = i + 1
                        e.updatedAt = at.addingTimeInterval(Double(i))
                        let ts = [Transition("admit", before: before, after: e, at: e.updatedAt), Transition("run", before: before, after: e, at: e.updatedAt)]
                        seqs += try await store.update([e], audit: [draft("admit", "workload/\(e.id)")], transitions: i % 3 == 0 ? [] : ts).map(\.seq)
                    }
                    return seqs
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let stored = try await store.transitions(after: 0, limit: 100_000)
        try expect(stored.map(\.seq) == Array(1...Int64(stored.count)), "stored seqs run 1, 2, 3... without a gap", "got \(stored.map(\.seq).prefix(40))")
        try expect(returned.sorted() == stored.map(\.seq), "each write returns the seqs it stored, each once", "returned \(returned.sorted().prefix(40))")
        try expect(try await store.transitionHead() == Int64(stored.count), "the head is the last seq", "head \(try await store.transitionHead()), \(stored.count) stored")
        // Paging: after any seq, in order, at most the limit.
        var paged: [Int64] = []
        var last: Int64 = 0
        while true {
            let page = try await store.transitions(after: last, limit: 7)
            guard let end = page.last else { break }
            try expect(page.count <= 7 && page.first?.seq == last + 1, "a page starts after its seq", "after \(last) got \(page.map(\.seq))")
            paged += page.map(\.seq)
            last = end.seq
        }
        try expect(paged == stored.map(\.seq), "pages cover the stream once", "paged \(paged.count) of \(stored.count)")
        for w in 0..<writers {
            let mine = stored.filter { $0.workload == "wl-\(w)" }.map(\.attempt)
            try expect(mine == mine.sorted(), "one workload's transitions keep their order", "wl-\(w): \(mine)")
        }
    }

    static func auditChainHoldsUnderConcurrentWriters(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<6 {
                group.addTask {
                    let e = entry("wl-\(w)", at: at)
                    _ = try await store.insert(e, audit: draft("submit", "workload/\(e.id)"))
                    for i in 0..<10 {
                        switch i % 4 {
                        case 0: try await store.appendAudit([draft("tool-call", "tool/search", at: at), draft("tool-call", "tool/mail", at: at)])
                        case 1: try await store.update([e], audit: [draft("admit", "workload/\(e.id)")])
                        case 2: _ = try await store.redeem("tib_\(w).\(i)", audit: draft("identity-attest", "workload/\(e.id)"))
                        default: try await store.insertToken(token("t-\(w)-\(i)", at: at), audit: draft("token-create", "token/t-\(w)-\(i)"))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let records = try await store.auditRecords(AuditQuery())
        try expect(records.count == 6 * 11 + 6 * 3, "every record is kept", "\(records.count) records")
        var previous = AuditRecord.genesis
        for (i, r) in records.enumerated() {
            try expect(r.seq == Int64(i + 1), "seqs run 1, 2, 3...", "record \(i + 1) has seq \(r.seq)")
            try expect(r.previousHash == previous, "each record points at the one before", "record \(r.seq) points elsewhere")
            try expect(r.hash == r.computedHash, "each record's hash covers its fields", "record \(r.seq) does not match its hash")
            previous = r.hash
        }
        let head = try await store.auditHead()
        try expect(head?.seq == records.last?.seq && head?.hash == records.last?.hash, "the head is the last record", "head \(String(describing: head))")
    }

    static func auditQueriesMatchTheirMeaning(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let actors = [AuditActor(kind: .user, id: "alice@acme.example"), AuditActor(kind: .user, id: "al"), AuditActor(kind: .workload, id: "spiffe://acme/wl"),
                      AuditActor(kind: .agentFor, id: "alice@acme.example via spiffe://acme/agent"), .scheduler, AuditActor(kind: .user, id: "bob\u{0}x")]
        let objects = ["tool/search", "tool/mail", "workload/wl-1", "workload/wl-2", "grant/g-1", "token/t-1"]
        var drafts: [AuditDraft] = []
        for i in 0..<60 {
            let object = objects[i % objects.count]
            var d = AuditDraft(time: t0.addingTimeInterval(Double(i) * 1.5), actor: actors[(i * 7) % actors.count], action: ["tool-call", "submit", "grant-approve"][i % 3],
                               object: object, detail: "record \(i)")
            if object.hasPrefix("grant/") { d.tool = "search"; d.workload = "wl-2" }
            drafts.append(d)
        }
        try await store.appendAudit(drafts)
        let all = try await store.auditRecords(AuditQuery())
        try expect(all.count == 60 && all.filter { $0.tool == "search" }.count == 20, "records keep their tool and workload", "\(all.filter { $0.tool == "search" }.count) about search")
        let queries = [
            AuditQuery(actor: "user:al"), AuditQuery(actor: "al"), AuditQuery(actor: "user:"), AuditQuery(actor: "agent"), AuditQuery(actor: "system:sched"),
            AuditQuery(actor: "bob\u{0}"), AuditQuery(actor: "nobody"), AuditQuery(tool: "search"), AuditQuery(tool: "mail", limit: 3),
            AuditQuery(workload: "wl-2"), AuditQuery(action: "submit", workload: "wl-1"), AuditQuery(since: t0.addingTimeInterval(30)),
            AuditQuery(since: t0.addingTimeInterval(15), until: t0.addingTimeInterval(45), tool: "search"), AuditQuery(actor: "user:alice", tool: "search", limit: 2),
            AuditQuery(limit: 5),
        ]
        for q in queries {
            let want = q.limit.map { Array(all.filter(q.matches).prefix($0)) } ?? all.filter(q.matches)
            let got = try await store.auditRecords(q)
            try expect(got.map(\.seq) == want.map(\.seq), "query \(q)", "got \(got.map(\.seq)), want \(want.map(\.seq))")
        }
        let wide = try await store.auditRecords(AuditQuery(actor: "user:al")).count
        let narrow = try await store.auditRecords(AuditQuery(actor: "user:ali")).count
        try expect(wide > narrow && narrow > 0, "an actor prefix widens", "user:al \(wide), user:ali \(narrow)")
    }

    static func tokensBehave(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let b = token("t-b", at: at.addingTimeInterval(5)), a = token("t-a", at: at)
        try await store.insertToken(b, audit: draft("token-create", "token/t-b"))
        try await store.insertToken(a, audit: draft("token-create", "token/t-a"))
        try expect(try await store.tokens().map(\.id) == ["t-a", "t-b"], "tokens list oldest first", "got \(try await store.tokens().map(\.id))")
        try expect(try await store.token(hash: b.hash) == b, "a token is found by its hash", "not found")
        try expect(try await store.token(hash: "nope") == nil, "an unknown hash finds nothing", "found one")
        let head = try await store.auditHead()?.seq ?? 0
        try expect(try await store.revokeToken(id: "t-b", audit: draft("token-revoke", "token/t-b")), "a revoke succeeds once", "it failed")
        try expect(!(try await store.revokeToken(id: "t-b", audit: draft("token-revoke", "token/t-b"))), "a second revoke is refused", "it succeeded")
        try expect(!(try await store.revokeToken(id: "t-x", audit: draft("token-revoke", "token/t-x"))), "revoking an unknown token is refused", "it succeeded")
        try expect(try await store.auditHead()?.seq == head + 1, "only the revoke that took effect is audited", "head \(String(describing: try await store.auditHead()?.seq)), was \(head)")
        let revoked = (try await store.token(hash: b.hash)?.revoked, try await store.token(hash: a.hash)?.revoked)
        try expect(revoked == (true, false), "revoked is stored", "\(revoked)")
    }

    static func identityBehaves(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let seal = SymmetricKey(size: .bits256)
        let (k1, _) = try SigningKey.generate(at: at, sealingKey: seal)
        var (k2, _) = try SigningKey.generate(at: at.addingTimeInterval(60), sealingKey: seal)
        try await store.saveSigningKeys([k2, k1], deleting: [], audit: [draft("key-create", "key/\(k1.kid)")])
        try expect(try await store.signingKeys() == [k1, k2], "keys list oldest first", "got \(try await store.signingKeys().map(\.kid))")
        k2.retiredAt = at.addingTimeInterval(120)
        try await store.saveSigningKeys([k2], deleting: [k1.kid], audit: [draft("key-drop", "key/\(k1.kid)")])
        try expect(try await store.signingKeys() == [k2], "a save replaces by kid and deletes", "got \(try await store.signingKeys().map(\.kid))")
        var g2 = try grant("g-2", at: at), g1 = try grant("g-1", at: at)
        try await store.saveGrants([g2, g1], audit: [draft("grant-request", "grant/g-1")])
        g2.state = .approved
        g2.decidedBy = "admin"
        try await store.saveGrants([g2], audit: [draft("grant-approve", "grant/g-2")])
        g1.state = .pending
        try expect(try await store.grants() == [g1, g2], "grants list by id, replaced by id", "got \(try await store.grants().map { "\($0.id):\($0.state)" })")
        let head = try await store.auditHead()?.seq ?? 0
        try expect(try await store.redeem("tib_wl.1.0.mac", audit: draft("identity-attest", "workload/wl")), "the first redemption succeeds", "refused")
        try expect(!(try await store.redeem("tib_wl.1.0.mac", audit: draft("identity-attest", "workload/wl"))), "a second redemption is refused", "it succeeded")
        try expect(try await store.redeem("tib_wl.1.1.mac", audit: draft("identity-attest", "workload/wl")), "another key redeems", "refused")
        try expect(try await store.auditHead()?.seq == head + 2, "only redemptions that took effect are audited", "head moved by \((try await store.auditHead()?.seq ?? 0) - head)")
    }

    static func restartReplaysEverything(_ s: StoreUnderTest) async throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let before = try await s.open()
        var e = entry("wl-1", at: at)
        e.requestID = "team:search\u{1F}req"
        _ = try await before.insert(e, plan: plan, audit: draft("submit", "workload/wl-1"), transition: Transition("submit", before: nil, after: e, at: at))
        let old = e
        e.state = .admitted
        e.attempt = 1
        try await before.update([e], audit: [draft("admit", "workload/wl-1")], transitions: [Transition("admit", before: old, after: e, at: at)])
        try await before.insertToken(token("t-1", at: at), audit: draft("token-create", "token/t-1"))
        let (key, _) = try SigningKey.generate(at: at, sealingKey: SymmetricKey(size: .bits256))
        try await before.saveSigningKeys([key], deleting: [], audit: [])
        try await before.saveGrants([try grant("g-1", at: at)], audit: [])
        _ = try await before.redeem("tib_x", audit: draft("identity-attest", "workload/wl-1"))
        let version = try modelVersion("ranker", "1.0.0", at: at)
        _ = try await before.register(version, audit: draft("model-register", "model/ranker@1.0.0"))
        _ = try await before.moveAlias(ModelAlias(team: "search", model: "ranker", name: "champion", version: version.version, movedBy: "alice", movedAt: at),
                                       expected: nil, audit: draft("alias-move", "model/ranker@champion"))
        try await before.saveRollout(RolloutRecord(team: "search", service: "ranker", body: Data("{\"phase\":\"paused\"}".utf8)))
        let records = try await before.auditRecords(AuditQuery())

        let after = try await s.open()
        let loaded = try await after.loadWorkloads()
        try expect(loaded.map(\.entry) == [e] && same(loaded.first?.plan, plan), "workloads and plans survive", "got \(loaded.map(\.entry.state))")
        try expect(try await after.transitions(after: 0, limit: 10).map(\.event) == ["submit", "admit"], "transitions survive in order", "lost")
        try expect(try await after.auditRecords(AuditQuery()) == records, "the audit chain survives byte for byte", "it changed")
        let tokens = try await after.tokens().map(\.id), keys = try await after.signingKeys(), grants = try await after.grants().map(\.id)
        try expect(tokens == ["t-1"] && keys == [key] && grants == ["g-1"], "tokens, keys and grants survive", "\(tokens), \(keys.count) keys, \(grants)")
        try expect(!(try await after.redeem("tib_x", audit: draft("identity-attest", "workload/wl-1"))), "a redemption survives", "it was forgotten")
        let versions = try await after.modelVersions(team: "search", model: "ranker"), aliases = try await after.aliases(team: "search", model: "ranker")
        try expect(versions == [version] && aliases.map(\.version) == [version.version], "model versions and aliases survive", "\(versions.count) versions, \(aliases)")
        try expect(!(try await after.insert(entry("wl-9", at: at, requestID: e.requestID), audit: draft("submit", "workload/wl-9")).created),
                   "a request id survives", "it was forgotten")
        let t = try await after.update([e], audit: [], transitions: [Transition("run", before: e, after: e, at: at)])
        try expect(t.map(\.seq) == [3], "seqs continue after a restart", "got \(t.map(\.seq))")
        let rollouts = try await after.rollouts()
        try expect(rollouts == [RolloutRecord(team: "search", service: "ranker", body: Data("{\"phase\":\"paused\"}".utf8))], "rollouts survive", "\(rollouts)")
    }

    static func rolloutsAreKeptPerService(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        try expect(try await store.rollouts().isEmpty, "a new store has no rollout", "it has some")
        let bytes = { (text: String) in Data(text.utf8) }
        try await store.saveRollout(RolloutRecord(team: "search", service: "ranker", body: bytes("v1")))
        try await store.saveRollout(RolloutRecord(team: "ads", service: "ranker", body: bytes("a1")))
        try await store.saveRollout(RolloutRecord(team: "search", service: "embed", body: bytes("e1")))
        try await store.saveRollout(RolloutRecord(team: "search", service: "ranker", body: bytes("v2")))
        let kept = try await store.rollouts()
        try expect(kept.map { "\($0.team)/\($0.service)=\(String(decoding: $0.body, as: UTF8.self))" } == ["ads/ranker=a1", "search/embed=e1", "search/ranker=v2"],
                   "one per team and service, the last saved, by team then service", "\(kept)")
        try await store.deleteRollout(team: "search", service: "ranker")
        try await store.deleteRollout(team: "search", service: "nothing")
        try expect(try await store.rollouts().map(\.service) == ["ranker", "embed"], "a deleted rollout is gone, the others stay", "\(try await store.rollouts())")
    }

    static func versionsAreRegisteredOnce(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        for v in ["1.10.0", "1.2.0", "1.2.0-rc.1"] {
            let r = try await store.register(try modelVersion("ranker", v, at: at), audit: draft("model-register", "model/ranker@\(v)"))
            try expect(r.created, "a new version is registered", "\(v) was not")
        }
        _ = try await store.register(try modelVersion("ranker", "0.1.0", team: "ads", at: at), audit: draft("model-register", "model/ranker@0.1.0"))
        let head = try await store.auditHead()?.seq
        let again = try await store.register(try modelVersion("ranker", "1.2.0+rebuilt", at: at), audit: draft("model-register", "model/ranker@1.2.0"))
        try expect(!again.created && again.version.version.description == "1.2.0", "a version of the same precedence is not registered twice",
                   "created \(again.created), returned \(again.version.version)")
        try expect(try await store.auditHead()?.seq == head, "a refused registration writes no audit record", "the chain grew")
        let listed = try await store.modelVersions(team: "search", model: "ranker")
        try expect(listed.map(\.version.description) == ["1.2.0-rc.1", "1.2.0", "1.10.0"], "versions list by precedence", "\(listed.map(\.version.description))")
        try expect(listed[1] == (try modelVersion("ranker", "1.2.0", at: at)), "a version round-trips whole (manifest, artifact, signature, lineage, labels)", "it changed")
        try expect(try await store.modelVersions(team: nil, model: nil).map(\.team) == ["ads", "search", "search", "search"], "all teams, by team", "other order")
        try expect(try await store.modelVersions(team: "ads", model: "other").isEmpty, "a filter that matches nothing", "found some")
    }

    static func aliasesMoveByCompareAndSet(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let v1 = try SemanticVersion.parse("1.0.0").get(), v2 = try SemanticVersion.parse("2.0.0").get()
        for v in [v1, v2] { _ = try await store.register(try modelVersion("ranker", v.description, at: at), audit: draft("model-register", "model/ranker@\(v)")) }
        func alias(_ v: SemanticVersion, by who: String = "alice") -> ModelAlias {
            ModelAlias(team: "search", model: "ranker", name: "champion", version: v, movedBy: who, movedAt: at)
        }
        try expect(try await store.moveAlias(alias(v1), expected: nil, audit: draft("alias-move", "model/ranker@champion")), "a new alias is made", "refused")
        let head = try await store.auditHead()?.seq ?? 0
        try expect(!(try await store.moveAlias(alias(v2), expected: nil, audit: draft("alias-move", "model/ranker@champion"))),
                   "an alias that exists is not made again", "it was")
        try expect(!(try await store.moveAlias(alias(v2), expected: v2, audit: draft("alias-move", "model/ranker@champion"))),
                   "a move expecting the wrong version is refused", "it moved")
        var refused = false
        do { _ = try await store.moveAlias(alias(try SemanticVersion.parse("9.9.9").get()), expected: v1, audit: draft("alias-move", "model/ranker@champion")) } catch {
            refused = true
        }
        try expect(refused, "an alias to an unregistered version is refused", "it moved")
        try expect(try await store.auditHead()?.seq == head, "refused moves write nothing", "the chain grew")
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 { group.addTask { try await store.moveAlias(alias(v2, by: "mover-\(i)"), expected: v1, audit: draft("alias-move", "model/ranker@champion")) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        try expect(wins == 1, "of concurrent moves from the same version one wins", "\(wins) won")
        let now = try await store.aliases(team: "search", model: "ranker")
        try expect(now.map(\.version) == [v2] && now.first?.movedBy.hasPrefix("mover-") == true, "the alias points where the winner moved it", "\(now)")
        try expect(try await store.auditHead()?.seq == head + 1, "only the winning move is audited", "head moved by \((try await store.auditHead()?.seq ?? 0) - head)")
    }

    static func approvalsAreKeptOncePerPerson(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let v = try modelVersion("ranker", "1.0.0", at: at)
        _ = try await store.register(v, audit: draft("model-register", "model/ranker@1.0.0"))
        func approval(_ by: String, _ version: String = "1.0.0", seconds: Double = 0) throws -> ModelApproval {
            ModelApproval(team: "search", model: "ranker", version: try SemanticVersion.parse(version).get(), digest: v.manifest.digest, by: by,
                          at: at.addingTimeInterval(seconds), comment: "looks right")
        }
        try expect(try await store.approve(try approval("bob"), audit: draft("model-approve", "model/ranker@1.0.0")), "an approval is kept", "refused")
        let head = try await store.auditHead()?.seq ?? 0
        try expect(!(try await store.approve(try approval("bob", seconds: 5), audit: draft("model-approve", "model/ranker@1.0.0"))),
                   "the same person's second approval is not kept", "it was")
        var refused = false
        do { _ = try await store.approve(try approval("carol", "2.0.0"), audit: draft("model-approve", "model/ranker@2.0.0")) } catch { refused = true }
        try expect(refused, "an approval of an unregistered version is refused", "it was kept")
        try expect(try await store.auditHead()?.seq == head, "refused approvals write nothing", "the chain grew")
        try expect(try await store.approve(try approval("carol", "1.0.0+other-build", seconds: 9), audit: draft("model-approve", "model/ranker@1.0.0")),
                   "another person's approval is kept (a version of the same precedence is the same version)", "refused")
        let kept = try await store.approvals(team: "search", model: "ranker", version: v.version)
        try expect(kept.map(\.by) == ["bob", "carol"] && kept[0] == (try approval("bob")), "approvals list oldest first and round-trip whole", "\(kept)")
        try expect(try await store.approvals(team: "ads", model: "ranker", version: v.version).isEmpty, "another team's model has none", "found some")
    }

    static func reviewsAreKeptOncePerPerson(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let doc = DocumentReview.digest(of: "kind: InferenceService\nmetadata: {name: ranker}\n")
        func review(_ by: String, team: String = "search", digest: String = doc, seconds: Double = 0) -> DocumentReview {
            DocumentReview(team: team, digest: digest, kind: "InferenceService", name: "ranker", by: by, at: at.addingTimeInterval(seconds), comment: "ok")
        }
        try expect(try await store.review(review("bob"), audit: draft("document-review", "inferenceservice/search/ranker")), "a review is kept", "refused")
        let head = try await store.auditHead()?.seq ?? 0
        try expect(!(try await store.review(review("bob", seconds: 4), audit: draft("document-review", "inferenceservice/search/ranker"))),
                   "the same person's second review is not kept", "it was")
        try expect(try await store.auditHead()?.seq == head, "a review not kept writes no audit record", "the chain grew")
        try expect(try await store.review(review("carol", seconds: 7), audit: draft("document-review", "inferenceservice/search/ranker")), "another person's is kept", "refused")
        try expect(try await store.review(review("bob", team: "ads"), audit: draft("document-review", "inferenceservice/ads/ranker")),
                   "the same person's review in another team is its own", "refused")
        let other = DocumentReview.digest(of: "kind: InferenceService\nmetadata: {name: ranker2}\n")
        try expect(try await store.review(review("dave", digest: other), audit: draft("document-review", "inferenceservice/search/ranker")), "another document's review is kept", "refused")
        let kept = try await store.reviews(team: "search", digest: doc)
        try expect(kept.map(\.by) == ["bob", "carol"] && kept[0] == review("bob"), "reviews list oldest first, of that document only, and round-trip whole", "\(kept)")
        try expect(try await store.reviews(team: "ads", digest: doc).map(\.by) == ["bob"], "a team sees its own reviews", "\(try await store.reviews(team: "ads", digest: doc))")
        try expect(try await store.auditHead()?.seq == head + 3, "each kept review is audited", "head moved by \((try await store.auditHead()?.seq ?? 0) - head)")
    }

    static func usageIsAppliedOnce(_ s: StoreUnderTest) async throws {
        let store = try await s.open()
        try expect(try await store.usageCursor() == 0, "a new ledger starts at 0", "\(try await store.usageCursor())")
        func row(_ day: String, _ workload: String, team: String = "search", gpu: Double, cpu: Double = 1, memory: Double = 2) -> UsageRow {
            UsageRow(day: day, workload: workload, name: "n-\(workload)", team: team, env: "dev", kind: "TrainingJob", user: "alice", model: nil,
                     accelerator: gpu > 0 ? "h100" : nil, gpuSeconds: gpu, cpuSeconds: cpu, memoryGiBSeconds: memory)
        }
        let first = UsageBatch(through: 5, rows: [row("2026-12-06", "wl-1", gpu: 0.25), row("2026-12-07", "wl-1", gpu: 0.5), row("2026-12-07", "wl-2", team: "ads", gpu: 0)])
        try expect(try await store.applyUsage(first), "a batch is applied", "refused")
        try expect(!(try await store.applyUsage(first)), "the same batch again is not", "applied twice")
        try expect(!(try await store.applyUsage(UsageBatch(through: 4, rows: [row("2026-12-07", "wl-1", gpu: 9)]))), "nor one before the cursor", "applied")
        try expect(try await store.applyUsage(UsageBatch(through: 9, rows: [row("2026-12-07", "wl-1", gpu: 1.5, cpu: 3, memory: 4)])), "a later batch is", "refused")
        try expect(try await store.usageCursor() == 9, "the cursor moved with the sums", "\(try await store.usageCursor())")
        let all = try await store.usage(since: nil, until: nil, team: nil)
        try expect(all.map(\.key) == ["2026-12-06|wl-1", "2026-12-07|wl-1", "2026-12-07|wl-2"], "rows by day then workload", "\(all.map(\.key))")
        let seventh = try await store.usage(since: "2026-12-07", until: "2026-12-08", team: "search")
        try expect(seventh.count == 1 && seventh[0].gpuSeconds == 2 && seventh[0].cpuSeconds == 4 && seventh[0].memoryGiBSeconds == 6 && seventh[0].name == "n-wl-1",
                   "deltas add up and the row keeps its attributes", "\(seventh)")
        try expect(try await store.usage(since: nil, until: "2026-12-07", team: nil).map(\.gpuSeconds) == [0.25], "until is exclusive", "")
        try expect(try await store.usage(since: nil, until: nil, team: "ads").map(\.workload) == ["wl-2"], "one team's rows", "")
        let totals = try await store.usageTotals(since: "2026-12-07", until: nil)
        try expect(totals == [UsageTotal(team: "ads", accelerator: nil, gpuSeconds: 0, cpuSeconds: 1, memoryGiBSeconds: 2),
                              UsageTotal(team: "search", accelerator: "h100", gpuSeconds: 2, cpuSeconds: 4, memoryGiBSeconds: 6)],
                   "totals per team and accelerator, over the days asked", "\(totals)")
        // What inference served joins the same row of the workload and day, whichever came first, outside the cursor.
        var served = row("2026-12-07", "wl-1", gpu: 0, cpu: 0, memory: 0)
        served.promptTokens = 40
        served.completionTokens = 60
        served.requests = 5
        served.modelLoadSeconds = 12.5
        served.modelLoads = 1
        var fresh = served
        fresh.day = "2026-12-08"
        try await store.addInferenceUsage([served, fresh])
        try await store.addInferenceUsage([served])
        let joined = try await store.usage(since: "2026-12-07", until: nil, team: "search")
        try expect(joined.count == 2 && joined[0].gpuSeconds == 2 && joined[0].promptTokens == 80 && joined[0].completionTokens == 120 && joined[0].requests == 10
                   && joined[0].modelLoads == 2 && joined[0].modelLoadSeconds == 25 && joined[1].promptTokens == 40 && joined[1].gpuSeconds == 0,
                   "tokens add to the workload's row of the day (or start one)", "\(joined)")
        try expect(try await store.usageCursor() == 9, "inference usage does not move the cursor", "\(try await store.usageCursor())")
    }

    // MARK: builders

    static func modelVersion(_ model: String, _ version: String, team: String = "search", at: Date) throws -> ModelVersion {
        ModelVersion(team: team, model: model, version: try SemanticVersion.parse(version).get(),
                     manifest: ModelManifest(files: [.init(path: "weights/part-0.bin", sha256: String(repeating: "ab", count: 32), size: 1 << 20),
                                                     .init(path: "config.json", sha256: String(repeating: "cd", count: 32), size: 42)]),
                     artifact: .external(uri: "s3://models/\(model)/\(version)"), signature: "MEUCIQ==", format: "safetensors", framework: "pytorch",
                     lineage: .init(workload: "wl-1", attempt: 2, checkpoint: "s3://ckpt/7"), owner: "alice@acme.example", labels: ["task": "ranking"],
                     registeredBy: "alice", registeredAt: at)
    }

    static func expect(_ ok: Bool, _ check: String, _ seen: String) throws {
        if !ok { throw ConformanceFailure(check: check, seen: seen) }
    }

    public static func entry(_ id: String, at: Date, requestID: String? = nil) -> WorkloadEntry {
        var e = WorkloadEntry(id: id, name: "n-\(id)", team: "search", env: "dev", kind: "TrainingJob", owner: "alice@acme.example", submittedBy: "alice",
                              requestID: requestID, size: "cpu-small", podCount: 1, priority: 10, source: "kind: TrainingJob\n", maxAttempts: 3, now: at)
        e.message = "waits for \u{0}nothing"
        return e
    }

    static func draft(_ action: String, _ object: String, at: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> AuditDraft {
        AuditDraft(time: at, actor: AuditActor(kind: .user, id: "alice"), action: action, object: object)
    }

    static func token(_ id: String, at: Date) -> APIToken {
        APIToken(id: id, name: "name-\(id)", role: .member, team: "search", hash: Digest.sha256Hex(id), createdAt: at, expiresAt: nil, createdBy: "admin")
    }

    static func grant(_ id: String, at: Date) throws -> Grant {
        let json = """
            {"id":"\(id)","workload":"wl-1","agent":"spiffe://acme/agent","agentName":"helper","team":"search","env":"dev","tool":"search",
             "scope":"read","requestedBy":"alice","state":"pending","createdAt":\(at.timeIntervalSince1970 * 1000)}
            """
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return try d.decode(Grant.self, from: Data(json.utf8))
    }

    /// Plans are the same in their stored form (where each field of the document was written is not stored).
    static func same(_ a: WorkloadPlan?, _ b: WorkloadPlan?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(a)) == (try? e.encode(b))
    }

    /// A plan resolved against the example platform (every store keeps it as it was given).
    static let plan: WorkloadPlan? = {
        guard let contract = ContractLoader.load(Fixtures.examplePlatform).contract else { return nil }
        return Kinds.plan(source: """
            apiVersion: tarmac.dev/v1alpha1
            kind: TrainingJob
            metadata: {name: n-wl-c, team: search, env: dev, owner: alice@acme.example}
            spec:
              size: cpu-small
              workers: 1
              image: docker.io/library/python:3.12-slim
              command: [python3, -c, "print(1)"]
              maxDuration: 10m
            """, contract: contract)
    }()
}
