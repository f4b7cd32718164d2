import Foundation
import Testing
import TarmacCore
import TarmacRuntime
import TarmacStorePostgres
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tarmac up` on PostgreSQL, with another process writing the same database beside it: the audit chain and the
/// transition log stay one line across processes and across restarts of either.
extension ServerTests {
@Suite(.enabled(if: PostgresRig.available, Comment(rawValue: PostgresRig.failure ?? PostgresRig.skipMessage)))
struct PostgresReplicaTests {
    /// 8 concurrent writers in two processes: 4 clients submitting through a real `tarmac up` (each submit appends an
    /// audit record and a transition in its transaction), and 4 writers in this process appending audit records
    /// straight to the store. Then the real CLI verifies the chain in the database, and every record is there once.
    @Test func theAuditChainHoldsWithWritersInTwoProcesses() async throws {
        let url = try PostgresRig.database()
        let server = try TestServer(arguments: ["--store", url, "--backend", "simulated"])
        try await server.start()
        let admin = try server.adminToken
        let store = try PostgresStore(try PostgresLocation(url: url), connections: 4)
        defer { store.close() }
        let perWriter = 30
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<4 {
                group.addTask {
                    for i in 0..<perWriter {
                        let (status, body) = try await server.json(.POST, "/v1/workloads", token: admin, body: Doc.command("w\(c)-\(i)", ["sleep", "600"]))
                        guard status == 201 else { throw TestFailure("submit w\(c)-\(i): \(status) \(body)") }
                    }
                }
            }
            for w in 0..<4 {
                group.addTask {
                    var written = 0
                    while written < perWriter {
                        // Batches of 1 to 3 records, as a gateway's calls come.
                        let n = min(1 + (written + w) % 3, perWriter - written)
                        try await store.appendAudit((0..<n).map { k in
                            AuditDraft(time: Date(), actor: .scheduler, action: "replica-test", object: "writer/\(w)", detail: "record \(written + k)")
                        })
                        written += n
                    }
                }
            }
            try await group.waitForAll()
        }
        let verified = try server.cli(["audit", "verify", "--store", url])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.hasPrefix("audit chain intact: "), "\(verified.stdout)")
        let records = try await store.auditRecords(since: nil, limit: nil)
        #expect(records.map(\.seq) == Array(1...Int64(records.count)), "seqs are 1...n without a gap")
        #expect(AuditChain.verify(records, anchors: []).ok)
        let direct = records.filter { $0.action == "replica-test" }
        #expect(direct.count == 4 * perWriter)
        #expect(Set(direct.map { "\($0.object) \($0.detail)" }).count == 4 * perWriter, "each record of this process once")
        // The two processes' writes interleave in the chain (they ran at the same time, not one after the other).
        let firstDirect = try #require(direct.first?.seq), lastDirect = try #require(direct.last?.seq)
        #expect(records.contains { $0.action == "submit" && (firstDirect...lastDirect).contains($0.seq) }, "no submit between this process's records")
        let submits = records.filter { $0.action == "submit" }
        #expect(submits.count == 4 * perWriter, "each submit of the server once: \(submits.count)")
        // The server's transitions are numbered without a gap too, whatever this process wrote meanwhile.
        let transitions = try await store.transitions(after: 0, limit: 100_000)
        #expect(transitions.map(\.seq) == Array(1...Int64(transitions.count)))
        #expect(transitions.filter { $0.event == "submit" }.count == 4 * perWriter)
    }

    /// The transition stream of a process that writes nothing (a replica that follows): it gets every transition the
    /// server stores, once and in order, across a `kill -9` and restart of the server and a restart of itself
    /// (resuming after the last seq it handled), while clients submit throughout.
    @Test func theTransitionStreamHasNoGapOrDuplicateAcrossRestartsOfEitherProcess() async throws {
        let url = try PostgresRig.database()
        let server = try TestServer(arguments: ["--store", url, "--backend", "simulated"])
        try await server.start()
        let admin = try server.adminToken
        func submit(_ names: Range<Int>) async {
            await withTaskGroup(of: Void.self) { group in
                for i in names {
                    // Some fail while the server is down: the stream only has to carry what was stored.
                    group.addTask { _ = try? await server.json(.POST, "/v1/workloads", token: admin, body: Doc.command("t\(i)", ["sleep", "1"])) }
                }
            }
        }
        var follower = try await Follower(url: url, after: 0)
        await submit(0..<15)
        try await eventually("the follower sees transitions") { follower.seen.count >= 20 }
        // The follower restarts, resuming after the last seq it handled...
        let handled = follower.seen
        follower.stop()
        await submit(15..<25)
        follower = try await Follower(url: url, after: handled.last ?? 0)
        // ...and the server dies with workloads running, and comes back.
        server.stop(signal: SIGKILL)
        try await server.start()
        await submit(25..<40)
        try await eventually("every workload ends", timeout: .seconds(60), every: .milliseconds(200)) {
            let (_, list) = try await server.json(.GET, "/v1/workloads?limit=1000", token: admin)
            let items = list["items"] as? [[String: Any]] ?? []
            return items.count >= 30 && items.allSatisfy { ["succeeded", "failed", "cancelled"].contains($0["state"] as? String ?? "") }
        }
        server.stop(signal: SIGTERM)
        let store = try PostgresStore(try PostgresLocation(url: url), connections: 2)
        defer { store.close() }
        let head = try await store.transitionHead()
        try await eventually("the follower reaches the head (\(head))") { (follower.seen.last ?? 0) >= head }
        follower.stop()
        let delivered = handled + follower.seen
        #expect(delivered == Array(1...head), "gaps: \(Set(1...head).subtracting(delivered).sorted().prefix(10)); delivered \(delivered.count) of \(head)")
    }
}

/// A process that follows the store: its own pool, transition stream and tail (woken by LISTEN/NOTIFY), and one
/// subscriber that resumes after a seq; what it delivered, in order.
final class Follower: @unchecked Sendable {
    let store: PostgresStore
    private let lock = NSLock()
    private var delivered: [Int64] = []
    private var tasks: [Task<Void, Never>] = []
    let stream: TransitionStream

    var seen: [Int64] { lock.withLock { delivered } }

    init(url: String, after: Int64) async throws {
        store = try PostgresStore(try PostgresLocation(url: url), connections: 4)
        stream = TransitionStream(store: store)
        let head = try await store.transitionHead()
        let tail = TransitionTail(store: store, stream: stream, wakes: store.transitionWakes(), interval: .milliseconds(500))
        let subscription = stream.subscribe(after: after)
        tasks.append(Task { await tail.run(after: head) })
        tasks.append(Task { [weak self] in
            for await t in subscription { self?.lock.withLock { self?.delivered.append(t.seq) } }
        })
    }

    func stop() {
        for t in tasks { t.cancel() }
        stream.finish()
        store.close()
    }
}
}
