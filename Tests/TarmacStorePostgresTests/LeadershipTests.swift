import Foundation
import TarmacCore
import TarmacStorePostgres
import TarmacStoreSQLite
import TarmacTesting
import Testing

/// Leadership in the store: the epoch a leader claims fences every write it makes afterwards, so a leader that lost
/// its lease and wakes up late writes nothing; the schema a leader migrates, and the one an older replica refuses.
@Suite(.enabled(if: PostgresRig.available, Comment(rawValue: PostgresRig.failure ?? PostgresRig.skipMessage)))
struct LeadershipTests {
    static func draft(_ detail: String) -> AuditDraft {
        AuditDraft(time: Date(), actor: .scheduler, action: "leader-test", object: "test/1", detail: detail)
    }

    @Test func aDeposedLeaderWritesNothing() async throws {
        let url = try PostgresRig.database()
        let a = try await PostgresStore.open(try PostgresLocation(url: url), connections: 4)
        let b = try PostgresStore(try PostgresLocation(url: url), connections: 4)
        defer { a.close(); b.close() }
        #expect(try await a.leadership() == nil)
        let first = try await a.claimLeadership(holder: "replica-a")
        try await a.appendAudit([Self.draft("a while leading")])
        let second = try await b.claimLeadership(holder: "replica-b")
        #expect(second == first + 1)
        #expect(try await b.leadership()?.holder == "replica-b")
        // Everything A writes now is refused whole: audit, a submit, an update, many at once in one batch.
        let before = try await b.auditHead()?.seq
        await #expect(throws: PostgresStoreError.self) { try await a.appendAudit([Self.draft("a after b claimed")]) }
        let w = StoreConformance.entry("wl-late", at: Date())
        await #expect(throws: PostgresStoreError.self) {
            _ = try await a.insert(w, plan: nil, audit: Self.draft("submit"), transition: nil)
        }
        let refused = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask { (try? await a.appendAudit([Self.draft("late \(i)")])) == nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(refused == 20)
        #expect(try await b.auditHead()?.seq == before, "nothing of the deposed leader was written")
        #expect(try await b.loadWorkloads().isEmpty)
        do {
            try await a.appendAudit([Self.draft("once more")])
            Issue.record("a deposed leader's write went through")
        } catch let e as PostgresStoreError {
            #expect("\(e)".contains("epoch \(first)") && "\(e)".contains("epoch \(second)"), "\(e)")
        }
        // The new leader writes; the chain is intact.
        try await b.appendAudit([Self.draft("b leading")])
        let records = try await b.auditRecords(since: nil, limit: nil)
        #expect(records.map(\.detail).filter { $0.hasPrefix("a ") || $0.hasPrefix("b ") } == ["a while leading", "b leading"])
        #expect(AuditChainCheck.intact(records))
        let epochs = (await a.leaderEpoch, await b.leaderEpoch)
        #expect(epochs.0 == first && epochs.1 == second)
    }

    @Test func aReplicaOnAnOlderSchemaRefusesToLeadAndSaysWhy() async throws {
        let url = try PostgresRig.database()
        let newer = try await PostgresStore.open(try PostgresLocation(url: url), connections: 2)
        defer { newer.close() }
        // A later Tarmac added a migration this one does not know.
        try PostgresRig.psql(url, "INSERT INTO tarmac_migration (name) VALUES ('v99-from-a-newer-tarmac')")
        let older = try PostgresStore(try PostgresLocation(url: url), connections: 2)
        defer { older.close() }
        #expect(try await older.schema().unknown == ["v99-from-a-newer-tarmac"])
        do {
            _ = try await older.claimLeadership(holder: "old")
            Issue.record("an older replica claimed leadership")
        } catch let e as PostgresStoreError {
            guard case .newerSchema(let unknown) = e else { Issue.record("\(e)"); return }
            #expect(unknown == ["v99-from-a-newer-tarmac"])
            #expect("\(e)".contains("newer than this tarmac"))
        }
        #expect(try await older.leadership() == nil, "nothing claimed")
        // It still reads (it may serve the API while it follows).
        #expect(try await older.transitionHead() == 0)
    }

    /// The same named migrations, in the same order, on both stores.
    @Test func bothStoresHaveTheSameNamedMigrations() async throws {
        let url = try PostgresRig.database()
        let pg = try await PostgresStore.open(try PostgresLocation(url: url), connections: 2)
        defer { pg.close() }
        let dir = try TemporaryDirectory()
        let sqlite = try SQLiteStore(path: dir.path + "/tarmac.db")
        let names = try await pg.appliedMigrations()
        #expect(names == (try sqlite.appliedMigrations()))
        #expect(names.last == "v11-leadership")
        // Opening again applies nothing (another replica starting finds the schema done).
        #expect(try await pg.migrate().isEmpty)
    }
}

/// The chain's own links, checked record by record.
enum AuditChainCheck {
    static func intact(_ records: [AuditRecord]) -> Bool {
        var previous = AuditRecord.genesis
        for r in records {
            guard r.previousHash == previous, r.hash == r.computedHash else { return false }
            previous = r.hash
        }
        return true
    }
}
