import Foundation
import TarmacCore
import TarmacStorePostgres
import TarmacStoreSQLite
import TarmacTesting

/// The stores alone, in process, side by side: submits (`insert`: the workload, its audit record and its transition in
/// one transaction) from N concurrent tasks, on SQLite (WAL, synchronous=FULL) and on PostgreSQL (fsync on; the server
/// from --postgres, else a throwaway one), and reads of one token by hash (what every API request does first).
func storeBenchmark(_ args: [String]) async {
    let writers = (option("--writers", args) ?? "1,8,32").split(separator: ",").compactMap { Int($0) }
    let count = Int(option("--count", args) ?? "") ?? 4000
    do {
        let postgres = option("--postgres", args) ?? PostgresRig.adminURL
        print("Store submits (insert: workload + audit record + transition, one transaction each, group commit), \(count) per round, in process")
        print("writers   SQLite inserts/s   p99 ms   PostgreSQL inserts/s   p99 ms")
        for n in writers {
            let dir = try TemporaryDirectory(prefix: "tarmac-store-bench")
            let sqlite = try SQLiteStore(path: dir.path + "/tarmac.db")
            let s = try await measure(n, count) { c, i in _ = try await insert(sqlite, "s-\(c)-\(i)") }
            var p: (rate: Double, p99: Double)?
            if let postgres {
                let pg = try await PostgresStore.open(try PostgresLocation(url: try PostgresRig.database("bench", on: postgres)))
                let m = try await measure(n, count) { c, i in _ = try await insert(pg, "p-\(c)-\(i)") }
                p = (m.rate, m.p99)
                pg.close()
            }
            print(String(format: "%7d   %16.0f   %6.1f   ", n, s.rate, s.p99) + (p.map { String(format: "%20.0f   %6.1f", $0.rate, $0.p99) } ?? "                   -        -"))
        }
    } catch {
        print("store benchmark failed: \(error)")
        exit(1)
    }
}

private func insert(_ store: any Store, _ id: String) async throws {
    let at = Date()
    let e = StoreConformance.entry(id, at: at, requestID: "r-" + id)
    let t = Transition(workload: id, name: e.name, team: e.team, env: e.env, kind: e.kind, attempt: 0, event: "submit", from: nil, to: .queued, at: at, pods: 1, cause: nil)
    _ = try await store.insert(e, plan: nil, audit: AuditDraft(time: at, actor: .scheduler, action: "submit", object: "workload/\(id)", detail: "bench"), transition: t)
}
