import TarmacCore
import Foundation
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Restart of a release `tarmac up` whose store holds many workloads: `--queued` GPU jobs submitted over HTTP (they
/// wait behind one that holds the machine's only declared GPU), then the server stopped, `--stored` minus that many
/// ended workloads written into its store (as months of use leave them, each with its audit record), and the server
/// started again: time from exec to /readyz answering 200, and the server's resident memory then.
func restartBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let stored = Int(option("--stored", args) ?? "") ?? 100_000
    let queued = Int(option("--queued", args) ?? "") ?? 5_000
    do {
        let first = try await BenchServer.start(tarmac)
        try await fill(first, queued)
        let dir = first.dir
        kill(first.process.processIdentifier, SIGTERM)
        first.process.waitUntilExit()
        let ended = max(0, stored - queued - 1)
        let t0 = now()
        try await storeEnded(ended, path: dir.path + "/data/tarmac.db")
        let written = now() - t0
        // Restart.
        let t1 = now()
        let (server, port) = try relaunch(tarmac, dir: dir)
        var ready = false
        while !ready && now() - t1 < 120 {
            if let r = try? await send(.GET, "http://127.0.0.1:\(port)/readyz", token: nil, body: nil), r.0 == 200 { ready = true } else { try await Task.sleep(for: .milliseconds(10)) }
        }
        let toReady = now() - t1
        let status = (try? String(contentsOfFile: "/proc/\(server.processIdentifier)/status", encoding: .utf8)) ?? ""
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "?" } ?? "?"
        print("Restart of tarmac up (release, \(tarmac)) with \(ended + queued + 1) stored workloads: \(queued) queued + 1 running (submitted over")
        print(String(format: "HTTP), %d ended (written into the store in %.1f s); SQLite WAL, synchronous=FULL", ended, written))
        print(String(format: "exec -> /readyz 200: %.2f s%@; resident memory then: %@ MiB", toReady, ready ? "" : " (NOT READY)",
                     (Int(rss).map { String($0 / 1024) } ?? rss) as NSString))
        let t2 = now()
        let w = try await send(.GET, "http://127.0.0.1:\(port)/v1/queue", token: first.token, body: nil)
        print(String(format: "GET /v1/queue after the restart: HTTP %d, %d KiB in %.0f ms", w.0, w.1.count / 1024, (now() - t2) * 1000))
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
    } catch {
        print("restart benchmark failed: \(error)")
        exit(1)
    }
}

/// Writes `count` ended workloads (one in ten failed), a minute apart from 90 days ago, each with its audit record, into
/// the store at `path`: what months of use leave behind.
func storeEnded(_ count: Int, path: String) async throws {
    let store = try SQLiteStore(path: path)
    let source = workload(name: "old", size: "small", script: "print(1)")
    let base = Date(timeIntervalSinceNow: -90 * 86_400)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for c in 0..<32 {
            group.addTask {
                for i in stride(from: c, to: count, by: 32) {
                    let at = base.addingTimeInterval(Double(i) * 60)
                    var e = WorkloadEntry(id: "wl-old-\(i)", name: "old-\(i)", team: "search", env: "dev", kind: "TrainingJob", owner: "alice@acme.example",
                                          submittedBy: "alice@acme.example", requestID: nil, size: "small", podCount: 1, priority: 100, source: source,
                                          maxAttempts: 3, now: at)
                    e.state = i % 10 == 0 ? .failed : .succeeded
                    e.message = i % 10 == 0 ? "exited with code 1" : "all 1 pod succeeded"
                    e.finishedAt = at.addingTimeInterval(600)
                    _ = try await store.insert(e, plan: nil, audit: AuditDraft(time: at, actor: AuditActor(kind: .user, id: "alice@acme.example"), action: "submit",
                                                                              object: "workload/\(e.id)"), transition: nil)
                }
            }
        }
        try await group.waitForAll()
    }
}

/// Starts `tarmac up` again on the data directory and platform a `BenchServer` left in `dir`, on a new random port
/// (it does not wait: the caller times or awaits /readyz). Its admin token is still the first start's.
func relaunch(_ tarmac: String, dir: TemporaryDirectory) throws -> (Process, Int) {
    let port = 20000 + Int.random(in: 0..<20000)
    let server = Process()
    server.executableURL = URL(fileURLWithPath: tarmac)
    server.arguments = ["up", "--data", dir.path + "/data", "--port", String(port), "--platform", dir.path + "/platform/platform.yaml",
                        "--rate-limit", "0", "--log-level", "warning"]
    var env = ProcessInfo.processInfo.environment
    env["TARMAC_CREDENTIALS"] = dir.path + "/credentials.json"
    server.environment = env
    server.standardOutput = FileHandle.nullDevice
    try server.run()
    return (server, port)
}
