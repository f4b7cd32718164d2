import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TarmacStorePostgres
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

extension RealCluster {
/// Two real `tarmac up --leader-elect` replicas sharing one PostgreSQL database, elected through the real API server's
/// Lease (the test control plane); workloads run on the simulated backend (the pods are not what is tested here).
@Suite(.enabled(if: KubeRig.kubeconfig != nil && PostgresRig.available, KubeRig.skipMessage))
struct FailoverTests {
    /// One leads; the other follows: ready while the leader is, it forwards every request to the leader (a submit
    /// through it is stored once, by the leader). `kill -9` of the leader: the follower leads within the lease duration
    /// and a few seconds, with every acknowledged workload there once.
    @Test func aFollowerForwardsThenLeadsWhenTheLeaderIsKilled() async throws {
        let cluster = try await Replicas.start(2)
        defer { cluster.stopAll() }
        let leader = try await cluster.leader()
        let follower = cluster.replicas.first { $0 !== leader }!
        // Ready, naming the leader (once it has read the Lease the leader wrote).
        try await eventually("the follower names the leader") {
            let ready = try await follower.get("/readyz")
            return ready.status == 200 && ready.body.contains("follower of") && ready.body.contains(leader.identityHint)
        }
        #expect(try await follower.get("/healthz").status == 200)
        let forwarded = try await follower.post("/v1/workloads", token: try cluster.token(), body: FailoverTests.job("through-follower"))
        #expect(forwarded.status == 201, "\(forwarded)")
        #expect(try await cluster.workloadNames(via: follower) == ["through-follower"])
        #expect(try await cluster.workloadNames(via: leader) == ["through-follower"])
        var acknowledged: [String] = ["through-follower"]
        for i in 0..<10 {
            let r = try await leader.post("/v1/workloads", token: try cluster.token(), body: FailoverTests.job("before-\(i)"))
            if r.status == 201 { acknowledged.append("before-\(i)") }
        }
        #expect(acknowledged.count == 11)
        let clock = ContinuousClock()
        leader.kill(SIGKILL)
        let killed = clock.now
        // Meanwhile it cannot forward: 503 with Retry-After, never a hang or a 5xx of its own.
        let during = try await follower.post("/v1/workloads", token: try cluster.token(), body: FailoverTests.job("during"))
        #expect(during.status == 503 || during.status == 201, "\(during)")
        if during.status == 201 { acknowledged.append("during") }
        // The CLI, sent to the follower meanwhile, retries a read while it answers 503 with Retry-After: it succeeds.
        let listed = try Run.program(Fixtures.tarmacBinary, ["list", "-o", "json"], environment: ProcessInfo.processInfo.environment.merging(
            ["TARMAC_SERVER": "http://127.0.0.1:\(follower.port)", "TARMAC_TOKEN": try cluster.token(), "NO_COLOR": "1"]) { $1 })
        print("tarmac list during the failover said on stderr: \(listed.stderr)")
        #expect(listed.status == 0, "\(listed.stdout)\(listed.stderr)")
        for name in acknowledged { #expect(listed.stdout.contains("\"\(name)\""), "\(name) missing from \(listed.stdout.prefix(400))") }
        try await eventually("the follower leads", timeout: .seconds(30), every: .milliseconds(100)) { await follower.leads() }
        let took = clock.now - killed
        #expect(took < .seconds(3 + 5), "the follower led \(took) after the kill (lease 3 s)")
        let after = try await follower.post("/v1/workloads", token: try cluster.token(), body: FailoverTests.job("after"))
        #expect(after.status == 201, "\(after)")
        let names = try await cluster.workloadNames(via: follower)
        #expect(names.sorted() == (acknowledged + ["after"]).sorted(), "\(names.sorted())")
        let store = try PostgresStore(try PostgresLocation(url: cluster.database), connections: 2)
        defer { store.close() }
        #expect(try await store.leadership()?.epoch == 2)
        let verified = try Run.program(Fixtures.tarmacBinary, ["audit", "verify", "--store", cluster.database])
        #expect(verified.status == 0 && verified.stdout.hasPrefix("audit chain intact"), "\(verified.stdout)\(verified.stderr)")
    }

    /// Fencing: a leader paused (SIGSTOP) past its lease while the follower takes over, then woken (SIGCONT), writes
    /// nothing (its store refuses every write on the epoch) and exits with status 75 once it sees the Lease lost.
    @Test func aLeaderPausedPastItsLeaseWritesNothingWhenItWakes() async throws {
        let cluster = try await Replicas.start(2)
        defer { cluster.stopAll() }
        let old = try await cluster.leader()
        let next = cluster.replicas.first { $0 !== old }!
        let token = try cluster.token()
        #expect(try await old.post("/v1/workloads", token: token, body: FailoverTests.job("from-old")).status == 201)
        old.kill(SIGSTOP)
        try await eventually("the follower leads", timeout: .seconds(30), every: .milliseconds(100)) { await next.leads() }
        #expect(try await next.post("/v1/workloads", token: token, body: FailoverTests.job("from-new")).status == 201)
        let store = try PostgresStore(try PostgresLocation(url: cluster.database), connections: 2)
        defer { store.close() }
        let head = try await store.auditHead()
        // Submits sent to the old leader while it is paused wait in its socket; woken (SIGCONT), it handles them while
        // it finds out it lost the Lease: whatever it tries to write is refused, and it exits.
        let pending = (0..<5).map { i in
            Task { () -> String in
                let r = try? await old.send(.POST, "/v1/workloads", token: token, body: FailoverTests.job("late-\(i)"), timeout: .seconds(5))
                return "\(r?.status ?? 0): \(r?.body.prefix(160) ?? "no answer")"
            }
        }
        // Nothing to wait for but the requests reaching the paused process's socket (it cannot say so).
        try await Task.sleep(for: .milliseconds(300))
        old.kill(SIGCONT)
        var late: [String] = []
        for p in pending { late.append(await p.value) }
        print("late submits to the old leader: \(late)")
        #expect(!late.contains { $0.hasPrefix("201") }, "a deposed leader acknowledged a submit: \(late)")
        let status = try await old.waitForExit(timeout: .seconds(20))
        #expect(status == 75, "the old leader exited with \(status); log:\n\(old.log.suffix(2000))")
        #expect(old.log.contains("stopped leading"), "\(old.log.suffix(2000))")
        // Nothing of it after the new leader's claim: no late workload, and the chain grew only by the new leader.
        let names = try await cluster.workloadNames(via: next)
        #expect(names.sorted() == ["from-new", "from-old"], "\(names)")
        let records = try await store.auditRecords(since: nil, limit: nil)
        #expect(!records.contains { $0.object.contains("late-") || $0.detail.contains("late-") })
        #expect((records.last?.seq ?? 0) >= (head?.seq ?? 0))
        let verified = try Run.program(Fixtures.tarmacBinary, ["audit", "verify", "--store", cluster.database])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }

    /// Upgrades: a replica of an older Tarmac, on a schema a newer one has migrated, refuses to lead, says why and
    /// gives the Lease back.
    @Test func aReplicaOnAnOlderSchemaRefusesToLeadAndSaysWhy() async throws {
        let cluster = try await Replicas.start(1)
        defer { cluster.stopAll() }
        let newer = try await cluster.leader()
        // What a newer version's migration leaves in the schema.
        try PostgresRig.psql(cluster.database, "INSERT INTO tarmac_migration (name) VALUES ('v99-from-a-newer-tarmac')")
        newer.kill(SIGKILL)
        let older = try Replica(arguments: newer.arguments)
        try older.start()
        defer { older.kill(SIGKILL) }
        let status = try await older.waitForExit(timeout: .seconds(60))
        #expect(status == 5, "exited \(status): \(older.log.suffix(1500))")
        #expect(older.log.contains("schema is newer than this tarmac") && older.log.contains("v99-from-a-newer-tarmac"), "\(older.log.suffix(1500))")
        let store = try PostgresStore(try PostgresLocation(url: cluster.database), connections: 2)
        defer { store.close() }
        #expect(try await store.leadership()?.epoch == 1, "the older replica claimed nothing")
    }

    /// A rolling update as the install's Deployment does it (maxSurge 1, maxUnavailable 0): a new replica starts and is
    /// ready (following) before an old one is stopped with SIGTERM, the leader among them; clients submit through
    /// whichever replicas are endpoints throughout, each submit with its Idempotency-Key, retrying a 503 or a refused
    /// connection. Nothing is refused otherwise, and every acknowledged submit is stored once.
    @Test func aRollingUpdateKeepsServing() async throws {
        let cluster = try await Replicas.start(2)
        defer { cluster.stopAll() }
        let first = try await cluster.leader()
        let token = try cluster.token()
        let endpoints = Endpoints(cluster.replicas)
        let tally = Tally()
        let clients = (0..<4).map { c in
            Task {
                var i = 0
                while !tally.stopped {
                    let name = "roll-\(c)-\(i)"
                    var tries = 0
                    while true {
                        tries += 1
                        let r = endpoints.pick(c + tries)
                        let answer = try? await r.send(.POST, "/v1/workloads", token: token, body: FailoverTests.job(name), headers: [("Idempotency-Key", name)])
                        if let answer, answer.status == 201 || answer.status == 200 {
                            tally.acknowledge(name)
                            break
                        }
                        tally.retried()
                        if let answer, answer.status != 503 { tally.refuse("\(name): \(answer.status) \(answer.body.prefix(200))") }
                        guard tries < 300 else { tally.refuse("\(name): no answer in 300 tries"); break }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    i += 1
                }
            }
        }
        var updated: [Replica] = []
        defer { for r in updated { r.kill(SIGKILL) } }
        // The old ones in the order the Deployment happens to take them: here the leader first.
        for old in [first] + cluster.replicas.filter({ $0 !== first }) {
            let new = try Replica(arguments: old.arguments)
            try new.start()
            updated.append(new)
            try await eventually("the new replica is ready", timeout: .seconds(60), every: .milliseconds(100)) { (try? await new.get("/readyz").status) == 200 }
            endpoints.add(new)
            let before = tally.count
            try await eventually("submits go on", timeout: .seconds(30)) { tally.count >= before + 3 }
            endpoints.remove(old)
            old.kill(SIGTERM)
            let status = try await old.waitForExit(timeout: .seconds(40))
            #expect(status == 0, "the old replica exited \(status): \(old.log.suffix(1500))")
        }
        let before = tally.count
        try await eventually("submits go on after the update", timeout: .seconds(60)) { tally.count >= before + 5 }
        tally.stop()
        for c in clients { await c.value }
        let leader = try await Replicas.leader(among: updated)
        let names = try await cluster.workloadNames(via: leader)
        let acked = tally.acknowledged
        print("rolling update: \(acked.count) submits acknowledged, \(names.count) stored, \(tally.retriedCount) tries answered 503 or not at all (sent again)")
        #expect(tally.refused.isEmpty, "\(tally.refused.prefix(5))")
        #expect(Set(names) == Set(acked.keys), "stored \(names.count), acknowledged \(acked.count)")
        #expect(names.count == Set(names).count, "a submit was stored twice")
        let verified = try Run.program(Fixtures.tarmacBinary, ["audit", "verify", "--store", cluster.database])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }

    static func job(_ name: String) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
        spec:
          size: cpu-small
          workers: 1
          image: docker.io/library/python:3.12-slim
          command: [sleep, "600"]
          maxDuration: 10m

        """
    }
}
}

/// `tarmac up --leader-elect` replicas: one database, one Lease, a data directory, port and credentials file each.
final class Replicas: @unchecked Sendable {
    let database: String
    let lease: String
    let replicas: [Replica]
    let keys: TemporaryDirectory

    init(database: String, lease: String, replicas: [Replica], keys: TemporaryDirectory) {
        self.database = database
        self.lease = lease
        self.replicas = replicas
        self.keys = keys
    }

    static func start(_ n: Int) async throws -> Replicas {
        let database = try PostgresRig.database()
        let lease = "default/tarmac-test-\(UInt32.random(in: 0...UInt32.max))"
        // One credential key for all (as one Secret mounted in every pod): the store's signing keys are sealed with it.
        let keys = try TemporaryDirectory(prefix: "tarmac-replica-key")
        let key = keys.path + "/credential.key"
        _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }), attributes: [.posixPermissions: 0o600])
        var replicas: [Replica] = []
        for _ in 0..<n {
            let r = try Replica(arguments: ["--store", database, "--backend", "simulated", "--leader-elect", "--leader-lease", lease,
                                            "--kubeconfig", try #require(KubeRig.kubeconfig),
                                            "--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5", "--credential-key", key])
            try r.start()
            replicas.append(r)
        }
        let set = Replicas(database: database, lease: lease, replicas: replicas, keys: keys)
        // Every replica answers: one leads, the others follow.
        for r in replicas {
            try await eventually("replica on port \(r.port) answers", timeout: .seconds(60), every: .milliseconds(100)) { (try? await r.get("/healthz").status) == 200 }
        }
        return set
    }

    /// The one replica that leads (waits for it).
    func leader() async throws -> Replica { try await Self.leader(among: replicas) }

    static func leader(among replicas: [Replica]) async throws -> Replica {
        var found: Replica?
        try await eventually("a replica leads", timeout: .seconds(60), every: .milliseconds(100)) {
            for r in replicas where await r.leads() {
                found = r
                return true
            }
            return false
        }
        return found!
    }

    /// The admin token the first leader saved (to its credentials file).
    func token() throws -> String {
        for r in replicas {
            if let d = FileManager.default.contents(atPath: r.credentials),
               let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
               let contexts = o["contexts"] as? [String: [String: Any]],
               let t = contexts["127.0.0.1:\(r.port)"]?["token"] as? String {
                return t
            }
        }
        throw TestTimeout("no replica saved an admin token")
    }

    func workloadNames(via r: Replica) async throws -> [String] {
        let list = try await r.get("/v1/workloads?limit=1000", token: try token())
        let o = try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [String: Any]
        return (o?["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func stopAll() { for r in replicas { r.kill(SIGKILL) } }
}

/// What the rolling update's clients saw.
final class Tally: Sendable {
    private let state = Mutex<(acknowledged: [String: Int], refused: [String], stopped: Bool)>(([:], [], false))
    func acknowledge(_ name: String) { state.withLock { $0.acknowledged[name, default: 0] += 1 } }
    func refuse(_ what: String) { state.withLock { $0.refused.append(what) } }
    func stop() { state.withLock { $0.stopped = true } }
    private let retries = Mutex(0)
    func retried() { retries.withLock { $0 += 1 } }
    var retriedCount: Int { retries.withLock { $0 } }
    var stopped: Bool { state.withLock { $0.stopped } }
    var count: Int { state.withLock { $0.acknowledged.count } }
    var acknowledged: [String: Int] { state.withLock { $0.acknowledged } }
    var refused: [String] { state.withLock { $0.refused } }
}

/// What a Service would send clients to: the replicas that are endpoints now.
final class Endpoints: Sendable {
    private let current: Mutex<[Replica]>
    init(_ replicas: [Replica]) { current = Mutex(replicas) }
    func add(_ r: Replica) { current.withLock { $0.append(r) } }
    func remove(_ r: Replica) { current.withLock { $0.removeAll { $0 === r } } }
    func pick(_ n: Int) -> Replica { current.withLock { $0[n % $0.count] } }
}

/// One `tarmac up` process.
final class Replica: @unchecked Sendable {
    let dir: TemporaryDirectory
    let port: Int
    let arguments: [String]
    var process: Process?
    var credentials: String { dir.path + "/credentials.json" }
    var logFile: String { dir.path + "/server.log" }
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
    /// The identity it elects under is HOST-PID: the pid names it.
    var identityHint: String { process.map { "-\($0.processIdentifier)" } ?? "?" }

    let platform: String

    init(arguments: [String], platform: String = Fixtures.examplePlatform) throws {
        dir = try TemporaryDirectory(prefix: "tarmac-replica")
        port = try TestPorts.free()
        self.arguments = arguments
        self.platform = platform
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Fixtures.tarmacBinary)
        p.arguments = ["up", "--data", dir.path + "/data", "--port", String(port), "--platform", platform, "--rate-limit", "0"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["TARMAC_CREDENTIALS"] = credentials
        env["NO_COLOR"] = "1"
        for k in ["TARMAC_SERVER", "TARMAC_TOKEN", "TARMAC_PLATFORM", "TARMAC_STORE", "POD_NAME"] { env[k] = nil }
        p.environment = env
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
    }

    func kill(_ signal: Int32) {
        guard let p = process, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, signal)
        if signal == SIGKILL { p.waitUntilExit() }
    }

    func waitForExit(timeout: Duration) async throws -> Int32 {
        guard let p = process else { return -1 }
        try await eventually("replica on port \(port) exits", timeout: timeout, every: .milliseconds(100)) { !p.isRunning }
        return p.terminationStatus
    }

    /// Leads and has recovered its state (a follower's /readyz says "follower of …").
    func leads() async -> Bool {
        guard let r = try? await get("/readyz") else { return false }
        return r.status == 200 && r.body == "ready\n"
    }

    func get(_ path: String, token: String? = nil) async throws -> (status: Int, body: String) { try await send(.GET, path, token: token, body: nil) }
    func post(_ path: String, token: String, body: String) async throws -> (status: Int, body: String) { try await send(.POST, path, token: token, body: body) }

    func send(_ method: HTTPMethod, _ path: String, token: String?, body: String?, headers: [(String, String)] = [], timeout: Duration = .seconds(10)) async throws
        -> (status: Int, body: String) {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(port)" + path)
        req.method = method
        for (n, v) in headers { req.headers.add(name: n, value: v) }
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            req.headers.add(name: "Content-Type", value: "application/yaml")
            req.body = .bytes(ByteBuffer(string: body))
        }
        let resp = try await HTTPClient.shared.execute(req, timeout: .milliseconds(Int64(timeout / .milliseconds(1))))
        let data = try await resp.body.collect(upTo: 16 << 20)
        return (Int(resp.status.code), String(buffer: data))
    }
}
