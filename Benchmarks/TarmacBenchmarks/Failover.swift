import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TarmacCore
import TarmacKubernetes
import TarmacStorePostgres
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Failover under load, with real processes: two `tarmac up --leader-elect --backend kubernetes` replicas sharing one
/// PostgreSQL database, elected through a real API server's Lease (Tests/Support/kube-rig: its node agent runs each
/// BatchJob's pod for a second); 8 clients submit --workloads throughout (each retrying on whichever replica answers,
/// with its own Idempotency-Key); the leader is killed (-9) --kills times, evenly over the submits, and started again
/// as a standby. Counted after: every acknowledged submit stored once, duplicate Kubernetes Jobs (by workload and
/// attempt label), workloads not ended, the audit chain; the time from each kill to the next admission.
func failoverBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    guard let kubeconfig = option("--kubeconfig", args) else {
        print("failover needs --kubeconfig FILE: the test control plane (Tests/Support/kube-rig start prints one)")
        exit(64)
    }
    let total = Int(option("--workloads", args) ?? "") ?? 1000
    let kills = Int(option("--kills", args) ?? "") ?? 20
    let clients = Int(option("--clients", args) ?? "") ?? 8
    let lease = (option("--lease", args) ?? "4,3,1").split(separator: ",").compactMap { Double($0) }
    guard lease.count == 3 else { print("--lease DURATION,RENEW,RETRY (seconds)"); exit(64) }
    do {
        guard let admin = option("--postgres", args) ?? PostgresRig.adminURL else { throw BenchFailure(PostgresRig.failure ?? PostgresRig.skipMessage) }
        let url = try PostgresRig.database("failover", on: admin)
        // --keep DIR: the replicas' data and logs stay there (else a temporary folder, removed at the end).
        let temporary = try TemporaryDirectory(prefix: "tarmac-failover")
        let root = option("--keep", args) ?? temporary.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let key = root + "/credential.key"
        _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o600])
        let leaseName = "default/bench-failover-\(UInt32.random(in: 0...UInt32.max))"
        let common = ["--backend", "kubernetes", "--kubeconfig", kubeconfig, "--platform", Fixtures.path("Tests/Fixtures/kubernetes/rig-platform.yaml"),
                      "--store", url, "--leader-elect", "--leader-lease", leaseName, "--credential-key", key, "--rate-limit", "0",
                      "--log-level", option("--server-log-level", args) ?? "warning",
                      "--lease-duration", String(lease[0]), "--renew-deadline", String(lease[1]), "--retry-period", String(lease[2])]
        let replicas = try (0..<2).map { i in try BenchReplica(tarmac, dir: root + "/r\(i)", arguments: common) }
        for r in replicas { try r.start() }
        defer { for r in replicas { r.kill() } }
        print("Failover: \(total) BatchJobs from \(clients) clients, the leader killed (-9) \(kills) times; 2 replicas of \(tarmac),")
        print("  PostgreSQL \(admin.split(separator: "@").last ?? ""), lease \(lease[0]) s / renew \(lease[1]) s / retry \(lease[2]) s (Kubernetes' defaults: 15/10/2),")
        print("  Kubernetes: the test control plane (its node agent runs each pod for 1 s)")
        let leader0 = try await BenchReplica.leader(replicas, timeout: .seconds(120))
        let token = try leader0.adminToken()
        let store = try PostgresStore(try PostgresLocation(url: url), connections: 4)
        defer { store.close() }

        let shared = FailoverCounts()
        let kube = try KubeClient(try KubeConfig.load(path: kubeconfig, context: nil), logger: Logger(label: "bench"))
        // Every Job seen while it runs, by workload and attempt: two uids for one attempt is an attempt launched twice
        // (finished Jobs are deleted, so they are sampled throughout, every 250 ms).
        let watching = Task {
            while !Task.isCancelled {
                if let jobs = try? await kube.list("/apis/batch/v1/jobs?labelSelector=tarmac.dev%2Fworkload-id").items {
                    for j in jobs {
                        let meta = j["metadata"] as? [String: Any] ?? [:]
                        let labels = meta["labels"] as? [String: String] ?? [:]
                        guard let w = labels["tarmac.dev/workload-id"], let uid = meta["uid"] as? String else { continue }
                        shared.jobs.withLock { _ = $0["\(w)/\(labels["tarmac.dev/attempt"] ?? "?")", default: []].insert(uid) }
                    }
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for cl in 0..<clients {
                group.addTask {
                    var prefer = 0
                    for i in stride(from: cl, to: total, by: clients) {
                        let idKey = "failover-\(i)"
                        let doc = """
                            apiVersion: tarmac.dev/v1alpha1
                            kind: BatchJob
                            metadata: {name: fo-\(i), team: rig, env: test}
                            spec:
                              size: tiny
                              image: docker.io/library/busybox:1.36
                              tasks: 1
                              parallelism: 1
                              env: {TEST_SECONDS: "1"}

                            """
                        var done = false
                        while !done {
                            for k in 0..<replicas.count {
                                let r = replicas[(prefer + k) % replicas.count]
                                guard let (status, body) = try? await r.send(.POST, "/v1/workloads", token: token, body: doc, headers: [("Idempotency-Key", idKey)]),
                                      status == 200 || status == 201,
                                      let id = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String else { continue }
                                shared.acknowledged.withLock { $0[idKey] = id }
                                prefer = (prefer + k) % replicas.count
                                done = true
                                break
                            }
                            if !done { try await Task.sleep(for: .milliseconds(200)) }
                        }
                    }
                }
            }
            // The killer: evenly over the submits.
            group.addTask {
                for k in 0..<kills {
                    let due = (k + 1) * total / (kills + 1)
                    while shared.acknowledged.withLock({ $0.count }) < due { try await Task.sleep(for: .milliseconds(50)) }
                    let leader = try await BenchReplica.leader(replicas, timeout: .seconds(120))
                    let head = try await store.transitionHead()
                    let killed = clock.now
                    leader.kill()
                    // Dead now (kill waits for it): whatever is stored after this head, the next leader wrote.
                    let dead = try await store.transitionHead()
                    try leader.start()
                    // The next leader's first write (any transition: it acts again), and the next admission (which
                    // also needs free capacity: with the cluster full it waits for a workload to end, leader or not).
                    var wrote: Double?
                    var admitted = false
                    while !admitted {
                        let after = try await store.transitions(after: head, limit: 10_000)
                        if wrote == nil, after.contains(where: { $0.seq > dead }) { wrote = seconds(clock.now - killed) }
                        admitted = after.contains { $0.event == "admit" }
                        if !admitted { try await Task.sleep(for: .milliseconds(50)) }
                        guard clock.now - killed < .seconds(300) else { throw BenchFailure("no admission within 300 s of kill \(k + 1)") }
                    }
                    let took = seconds(clock.now - killed)
                    shared.toAdmission.withLock { $0.append(took) }
                    shared.toFirstWrite.withLock { $0.append(wrote ?? took) }
                }
            }
            try await group.waitForAll()
        }
        let submitted = clock.now - start
        // Every workload ends (the last leader runs them out), or 10 minutes pass.
        var loaded: [StoredWorkload] = []
        let settleStart = clock.now
        while clock.now - settleStart < .seconds(600) {
            loaded = try await store.loadWorkloads()
            if loaded.count >= total && loaded.allSatisfy({ $0.entry.state.isTerminal }) { break }
            try await Task.sleep(for: .seconds(1))
        }
        let acks = shared.acknowledged.withLock { $0 }
        let storedOnce = acks.keys.filter { key in loaded.filter { $0.entry.id == acks[key] }.count == 1 }.count
        let stuck = loaded.filter { !$0.entry.state.isTerminal }
        watching.cancel()
        let ours = Set(loaded.map(\.entry.id))
        let perAttempt = shared.jobs.withLock { $0 }.filter { ours.contains(String($0.key.split(separator: "/")[0])) }
        let duplicates = perAttempt.values.filter { $0.count > 1 }.map { $0.count - 1 }.reduce(0, +)
        let verify = try Run.program(tarmac, ["audit", "verify", "--store", url])
        let sorted = shared.toAdmission.withLock { $0 }.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))] }
        let states = Dictionary(grouping: loaded, by: { $0.entry.state.rawValue }).mapValues(\.count).sorted { $0.key < $1.key }
        print(String(format: "submits acknowledged    %d of %d in %.1f s", acks.count, total, Double(submitted.components.seconds)))
        print("stored once             \(storedOnce) of \(acks.count) acknowledged; \(loaded.count) workloads in the store")
        print("duplicate Jobs          \(duplicates) (Jobs of \(perAttempt.count) workload attempts seen while they ran, by label)")
        print("not ended               \(stuck.count) (states: \(states.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
        print("audit chain             \(verify.stdout.split(separator: "\n").first ?? "?")")
        print(String(format: "kill -> next admission  p50 %.2f s, max %.2f s over %d kills (lease %.0f s; target: under lease + 2 s)", pct(0.5), sorted.last ?? 0, sorted.count, lease[0]))
        print("  each kill, in order:  " + shared.toAdmission.withLock { $0 }.map { String(format: "%.1f", $0) }.joined(separator: " ") + " s")
        let writes = shared.toFirstWrite.withLock { $0 }
        let w = writes.sorted()
        print(String(format: "kill -> next leader's first write  p50 %.2f s, max %.2f s (any transition: it acts again)", w.isEmpty ? 0 : w[w.count / 2], w.last ?? 0))
        print("  each kill, in order:  " + writes.map { String(format: "%.1f", $0) }.joined(separator: " ") + " s")
    } catch {
        print("failover benchmark failed: \(error)")
        exit(1)
    }
}

/// What the clients and the killer record.
final class FailoverCounts: Sendable {
    let acknowledged = Mutex<[String: String]>([:])
    let toAdmission = Mutex<[Double]>([])
    let toFirstWrite = Mutex<[Double]>([])
    let jobs = Mutex<[String: Set<String>]>([:])
}

/// One `tarmac up` replica of the failover benchmark.
final class BenchReplica: @unchecked Sendable {
    let tarmac: String
    let dir: String
    let port: Int
    let arguments: [String]
    private let lock = NSLock()
    private var process: Process?

    init(_ tarmac: String, dir: String, arguments: [String]) throws {
        self.tarmac = tarmac
        self.dir = dir
        port = try TestPorts.free()
        self.arguments = arguments
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tarmac)
        p.arguments = ["up", "--data", dir + "/data", "--port", String(port)] + arguments
        var env = ProcessInfo.processInfo.environment
        env["TARMAC_CREDENTIALS"] = dir + "/credentials.json"
        p.environment = env
        let logPath = dir + "/server.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try log.seekToEnd()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        lock.withLock { process = p }
    }

    func kill() {
        guard let p = lock.withLock({ process }), p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func send(_ method: HTTPMethod, _ path: String, token: String?, body: String?, headers: [(String, String)] = []) async throws -> (Int, Data) {
        try await TarmacBenchmarks.send(method, "http://127.0.0.1:\(port)" + path, token: token, body: body, headers: headers, timeout: .seconds(5))
    }

    func adminToken() throws -> String {
        guard let d = FileManager.default.contents(atPath: dir + "/credentials.json"),
              let o = try JSONSerialization.jsonObject(with: d) as? [String: Any],
              let contexts = o["contexts"] as? [String: [String: Any]],
              let t = contexts["127.0.0.1:\(port)"]?["token"] as? String else { throw BenchFailure("no admin token saved by the replica at \(dir)") }
        return t
    }

    /// The replica that leads, waiting for one.
    static func leader(_ replicas: [BenchReplica], timeout: Duration) async throws -> BenchReplica {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            for r in replicas {
                // A follower is ready too, and says "follower of …".
                if let (status, body) = try? await r.send(.GET, "/readyz", token: nil, body: nil), status == 200, body == Data("ready\n".utf8) { return r }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchFailure("no replica led within \(timeout)")
    }
}
