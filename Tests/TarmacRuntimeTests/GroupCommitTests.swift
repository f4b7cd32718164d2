import TarmacCore
import Foundation
import Testing
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// Writes that arrive together share a transaction, and each is still answered only after its own commit, alone in
/// its failure, with the audit chain and the transition numbers exact.
@Suite struct GroupCommitTests {
    @Test func concurrentSubmitsAreEachStoredOnceWithAnExactChain() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-group")
        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // 60 submits at once; every third one reuses the request id of the one before it.
        let results = try await withThrowingTaskGroup(of: (Int, Bool, String).self) { group in
            for i in 0..<60 {
                group.addTask {
                    var e = Lifecycle.tracked(Lifecycle.batch("b\(i)"), id: "wl-\(i)", at: now).entry
                    e.requestID = "req-\(i % 3 == 2 ? i - 1 : i)"
                    let t = Transition("submit", before: nil, after: e, at: now)
                    let r = try await store.insert(e, plan: nil, audit: AuditDraft(time: now, actor: .lifecycle, action: "submit", object: "workload/\(e.id)"),
                                                   transition: t)
                    return (i, r.created, r.workload.id)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let created = results.filter(\.1)
        #expect(created.count == 40, "one workload per request id")
        let byIndex = Dictionary(uniqueKeysWithValues: results.map { ($0.0, ($0.1, $0.2)) })
        for i in 0..<60 where i % 3 == 2 {
            let (a, b) = (byIndex[i - 1]!, byIndex[i]!)
            #expect(a.0 != b.0 && a.1 == b.1, "one of the two with one request id created it, the other got the same workload")
        }
        let audit = try await store.auditRecords(since: nil, limit: nil)
        #expect(audit.count == 40 && AuditChain.verify(audit).ok)
        let transitions = try await store.transitions(after: 0, limit: 1000)
        #expect(transitions.map(\.seq) == Array(1...40), "numbered without gaps")
        #expect(Set(transitions.map(\.workload)) == Set(created.map(\.2)))
    }
}
