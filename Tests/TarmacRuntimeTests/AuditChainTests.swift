import TarmacCore
import Foundation
import Testing
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

@Suite struct AuditChainTests {
    static func chain(_ n: Int) -> [AuditRecord] {
        var out: [AuditRecord] = []
        var prev = AuditRecord.genesis
        for i in 1...n {
            let r = AuditRecord(seq: Int64(i), draft: AuditDraft(time: Date(timeIntervalSince1970: Double(i)), actor: AuditActor(kind: .user, id: "u\(i % 3)"),
                                                                  action: "submit", object: "workload/w\(i)", after: "d\(i)"), previousHash: prev)
            prev = r.hash
            out.append(r)
        }
        return out
    }

    @Test func intactChainVerifies() {
        let v = AuditChain.verify(Self.chain(20))
        #expect(v.ok && v.records == 20 && v.firstBad == nil)
        #expect(v.head == Self.chain(20).last?.hash)
    }

    @Test(arguments: 1...12)
    func anyEditIsFoundAtItsRecord(_ at: Int) {
        var c = Self.chain(12)
        c[at - 1].detail = "edited"
        let v = AuditChain.verify(c)
        #expect(!v.ok && v.firstBad == Int64(at))
        #expect(v.problem?.contains("changed after it was written") == true)
    }

    @Test func deletionInsertionAndReorderingAreFound() {
        var deleted = Self.chain(10)
        deleted.remove(at: 4)
        #expect(AuditChain.verify(deleted).firstBad == 6)
        #expect(AuditChain.verify(deleted).problem?.contains("record 5 is missing") == true)

        var lastDeleted = Self.chain(10)
        lastDeleted.removeLast()
        #expect(AuditChain.verify(lastDeleted).ok, "truncating the tail keeps a valid chain: compare the head with a copy kept elsewhere")
        #expect(AuditChain.verify(lastDeleted).head != AuditChain.verify(Self.chain(10)).head)

        var swapped = Self.chain(10)
        swapped.swapAt(2, 3)
        #expect(AuditChain.verify(swapped).firstBad == 4)

        // A forged record inserted with consistent numbering still breaks the links after it.
        var c = Self.chain(10)
        let forged = AuditRecord(seq: 4, draft: AuditDraft(time: Date(), actor: .scheduler, action: "admit", object: "workload/x"), previousHash: c[2].hash)
        c.insert(forged, at: 3)
        for i in 4..<c.count { c[i].seq += 1 }
        let v = AuditChain.verify(c)
        #expect(!v.ok && v.firstBad == 5)

        // Moving text between fields changes the hash.
        var moved = Self.chain(3)
        moved[1].action = "sub"
        moved[1].object = "mitworkload/w2"
        #expect(!AuditChain.verify(moved).ok)
    }

    @Test func storeChainsRecordsAcrossTransactionsInARealSQLiteFile() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/t.db")
        #expect(try store.appliedMigrations() == ["v1-workloads", "v1-tokens", "v1-audit", "v2-workload-plans", "v2-transitions", "v3-identity", "v4-audit-query-columns", "v5-model-registry", "v6-model-approvals", "v7-rollouts", "v8-document-reviews", "v9-usage", "v10-usage-inference", "v11-leadership"])
        let now = Date()
        var w = WorkloadEntry(id: "wl-1", name: "a", team: "t", env: "dev", kind: "TrainingJob", owner: nil, submittedBy: "u", requestID: "r1",
                              size: "s", podCount: 1, priority: 0, source: "x", maxAttempts: 3, now: now)
        let (_, created) = try await store.insert(w, audit: AuditDraft(time: now, actor: AuditActor(kind: .user, id: "u"), action: "submit", object: "workload/wl-1"))
        #expect(created)
        var twin = w
        twin.id = "wl-2"
        let again = try await store.insert(twin, audit: AuditDraft(time: now, actor: AuditActor(kind: .user, id: "u"), action: "submit", object: "workload/wl-2"))
        #expect(!again.created && again.workload.id == "wl-1", "the same request id never creates a second workload")
        w.state = .running
        try await store.update([w], audit: [AuditDraft(time: now, actor: .scheduler, action: "admit", object: "workload/wl-1"),
                                            AuditDraft(time: now, actor: .lifecycle, action: "run", object: "workload/wl-1")])
        let reopened = try SQLiteStore(path: dir.path + "/t.db")
        let records = try await reopened.auditRecords(since: nil, limit: nil)
        #expect(records.map(\.action) == ["submit", "admit", "run"])
        #expect(AuditChain.verify(records).ok)
        #expect(try await reopened.loadWorkloads().map(\.entry.state) == [.running])
        #expect(FileManager.default.fileExists(atPath: dir.path + "/t.db-wal"), "the store runs in WAL mode")
    }
}

@Suite struct TriageTests {
    func exit(_ reason: PodExit.Reason, code: Int? = nil, signal: Int? = nil, lines: [String] = []) -> PodExit {
        PodExit(workload: "w", attempt: 1, pod: 0, reason: reason, exitCode: code, signal: signal, peakMemoryBytes: 900 << 20, memoryLimitBytes: 512 << 20, lastLines: lines)
    }

    @Test func causesUsersCanActOn() {
        #expect(Triage.of(exit(.outOfMemory)).cause == "OutOfMemory")
        #expect(Triage.of(exit(.outOfMemory)).message.contains("900Mi") && !Triage.of(exit(.outOfMemory)).retryable)
        #expect(Triage.of(exit(.exited, code: 1, lines: ["torch.OutOfMemoryError: CUDA out of memory."])).cause == "GPUOutOfMemory")
        #expect(Triage.of(exit(.exited, code: 1, lines: ["MemoryError"])).cause == "OutOfMemory")
        #expect(Triage.of(exit(.exited, code: 127)).cause == "CommandNotFound")
        let app = Triage.of(exit(.exited, code: 2, lines: ["a", "b", "Traceback: boom"]))
        #expect(app.cause == "ApplicationError" && app.message.contains("code 2") && app.message.contains("boom") && app.retryable)
        #expect(Triage.of(exit(.lost)).cause == "LostOnRestart" && Triage.of(exit(.lost)).retryable)
        #expect(Triage.of(exit(.deadline)).cause == "DeadlineExceeded")
    }
}
