import AsyncHTTPClient
import Foundation
import Logging
import Testing
import TarmacKubernetes
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Two test control planes (Tests/Support/kube-rig) on loopback, each with its own data directory, ports and fake
/// nodes (two GPU nodes of 4 h100 and a CPU node): the clusters `east` and `west` of `FleetFixture`.
final class TwoRigs: @unchecked Sendable {
    static let nodes = """
    [{"name":"gpu-a","cpu":"32","memory":"256Gi","gpus":4,"labels":{"tarmac.dev/pool":"gpu","nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3"}},\
    {"name":"gpu-b","cpu":"32","memory":"256Gi","gpus":4,"labels":{"tarmac.dev/pool":"gpu","nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3"}},\
    {"name":"cpu-a","cpu":"8","memory":"32Gi","gpus":0,"labels":{"tarmac.dev/pool":"cpu"}}]
    """
    let states: [String: String]
    /// The kube-apiserver command line of each, kept to start it again after it was killed.
    private var apiserver: [String: String] = [:]

    init() throws {
        guard let bin = KubeRig.bin else { throw TestTimeout("no TARMAC_K8S_BIN") }
        var states: [String: String] = [:]
        for name in ["east", "west"] {
            let state = NSTemporaryDirectory() + "tarmac-fleet-\(name)-\(getpid())"
            let q: (String) -> String = { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            let command = "TARMAC_RIG_NODES=\(q(Self.nodes)) TARMAC_K8S_BIN=\(q(bin)) /bin/bash \(q(Fixtures.path("Tests/Support/kube-rig"))) start \(q(state)) > \(q(state + ".out")) 2>&1 < /dev/null"
            let status = system(command)
            states[name] = state
            guard status == 0 else {
                self.states = states
                stop()
                throw TestTimeout("kube-rig start for \(name) failed: \((try? String(contentsOfFile: state + ".out", encoding: .utf8)) ?? "")")
            }
        }
        self.states = states
    }

    func kubeconfig(_ name: String) -> String { states[name]! + "/admin.kubeconfig" }
    func client(_ name: String) throws -> KubeClient {
        try KubeClient(try KubeConfig.load(path: kubeconfig(name)), retry: RetryPolicy(attempts: 2, timeout: .seconds(5)), logger: Logger(label: "test"))
    }

    /// kill -9 of a cluster's API server (its etcd, scheduler, controllers and node agent go on).
    func killAPIServer(_ name: String) throws {
        let state = states[name]!
        guard let pid = Int32((try String(contentsOfFile: state + "/kube-apiserver.pid", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestTimeout("no kube-apiserver pid in \(state)")
        }
        let args = (try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        apiserver[name] = args.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    /// Starts the API server killed by `killAPIServer` again, as it was.
    func restartAPIServer(_ name: String) throws {
        let state = states[name]!
        guard let line = apiserver[name] else { throw TestTimeout("\(name)'s API server was not killed") }
        let status = system("cd '\(state)' && (\(line) >> kube-apiserver.log 2>&1 < /dev/null & echo $! > kube-apiserver.pid)")
        guard status == 0 else { throw TestTimeout("could not start \(name)'s API server again") }
    }

    func stop() {
        for state in states.values {
            _ = system("/bin/bash '\(Fixtures.path("Tests/Support/kube-rig"))' stop '\(state)' > /dev/null 2>&1; rm -rf '\(state)' '\(state).out'")
        }
    }

    /// Pods of a workload in a cluster, by the label every Tarmac pod carries (those not being deleted).
    func pods(of workload: String, in name: String) async throws -> [[String: Any]] {
        let (items, _) = try await client(name).list("/api/v1/pods?labelSelector=tarmac.dev/workload-id%3D\(workload)")
        return items.filter { ($0["metadata"] as? [String: Any])?["deletionTimestamp"] == nil }
    }

    func jobs(of workload: String, in name: String) async throws -> Int {
        try await client(name).list("/apis/batch/v1/jobs?labelSelector=tarmac.dev/workload-id%3D\(workload)").items.count
    }
}

extension RealCluster {
/// Several clusters as one platform, on two real control planes: the platform applied to both (drift on one found and
/// corrected), placement by environment, dataset and room, a gang that never splits, and failover when one API server
/// is killed, with the times printed.
@Suite(.enabled(if: KubeRig.bin != nil, KubeRig.rigMessage))
struct FleetRigTests {
    static func json(_ body: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }

    @Test func onePlatformOverTwoClusters() async throws {
        let rigs = try TwoRigs()
        defer { rigs.stop() }
        let dir = try TemporaryDirectory(prefix: "tarmac-fleet")
        let platform = try dir.write("platform.yaml", FleetFixture.platform(east: rigs.kubeconfig("east"), west: rigs.kubeconfig("west"), lostTimeout: "5s"))
        let server = try Replica(arguments: ["--backend", "kubernetes", "--platform-resync", "2"], platform: platform)
        try server.start()
        defer { server.kill(SIGKILL) }
        try await eventually("tarmac up drives both clusters", timeout: .seconds(90), every: .milliseconds(200)) { await server.leads() }
        let token = try Replica.adminToken(server)
        func clusters() async throws -> [String: [String: Any]] {
            let items = Self.json(try await server.get("/v1/clusters", token: token).body)["items"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: items.map { ($0["name"] as! String, $0) })
        }
        func submit(_ doc: String) async throws -> String {
            let r = try await server.post("/v1/workloads", token: token, body: doc)
            #expect(r.status == 201, "\(r.body)")
            return Self.json(r.body)["id"] as? String ?? ""
        }
        func workload(_ id: String) async throws -> [String: Any] { Self.json(try await server.get("/v1/workloads/\(id)", token: token).body) }

        // The platform is applied to both: the team's namespaces and quota exist in each.
        for name in ["east", "west"] {
            let quota = try await rigs.client(name).get("/api/v1/namespaces/search-dev/resourcequotas/tarmac-quota")
            #expect((quota["spec"] as? [String: Any])?["hard"] != nil, "\(name) has no quota")
        }
        var seen = try await clusters()
        #expect(seen.keys.sorted() == ["east", "west"] && seen.values.allSatisfy { $0["reachable"] as? Bool == true && $0["nodes"] as? Int == 3 })

        // Drift on east: found and put back at the next sync (2 s), reported for east only.
        let quotaPath = "/api/v1/namespaces/search-dev/resourcequotas/tarmac-quota"
        _ = try await rigs.client("east").mergePatch(quotaPath, ["spec": ["hard": ["requests.cpu": "999"]]])
        try await eventually("east reports the drift", timeout: .seconds(30), every: .milliseconds(200)) {
            ((try await clusters())["east"]?["drift"] as? [String] ?? []).contains { $0.contains("requests.cpu: 999") }
        }
        let hard = (try await rigs.client("east").get(quotaPath)["spec"] as? [String: Any])?["hard"] as? [String: Any]
        #expect(hard?["requests.cpu"] as? String != "999", "the quota was put back")
        #expect(((try await clusters())["west"]?["drift"] as? [String] ?? []).isEmpty)
        let table = try Run.program(Fixtures.tarmacBinary, ["clusters"], environment: ["TARMAC_SERVER": "http://127.0.0.1:\(server.port)", "TARMAC_TOKEN": token, "NO_COLOR": "1",
                                                                                      "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"])
        print("tarmac clusters:\n\(table.stdout)")
        #expect(table.status == 0 && table.stdout.contains("drift on east") && table.stdout.contains("reachable"))
        // tarmac apply-platform compares every cluster the contract names: after the correction nothing differs.
        let check = try Run.program(Fixtures.tarmacBinary, ["apply-platform", "--platform", platform, "--dry-run"], environment: ["NO_COLOR": "1", "HOME": dir.path])
        #expect(check.status == 0 && check.stdout.contains("CLUSTER") && check.stdout.contains("in 2 clusters: 0 would be created, 0 would be updated"),
                "\(check.stdout)\(check.stderr)")

        // prod runs only where prod is allowed (east); the dataset held only by east takes a dev workload there.
        let prod = try await submit(FleetFixture.training("prod-job", env: "prod", outcome: "run"))
        let data = try await submit(FleetFixture.training("data-job", env: "dev", size: "g2", datasets: ["corpus"], outcome: "run"))
        for id in [prod, data] {
            try await eventually("\(id) is placed", timeout: .seconds(30)) { try await workload(id)["cluster"] as? String != nil }
            #expect(try await workload(id)["cluster"] as? String == "east")
            try await eventually("\(id)'s Job exists on east", timeout: .seconds(30)) { try await rigs.jobs(of: id, in: "east") == 1 }
            #expect(try await rigs.jobs(of: id, in: "west") == 0)
        }
        // A gang of 3 × 4 GPUs: 12 GPUs, more than either cluster has (8 each), never split: it waits, and says why.
        let gang = try await submit(FleetFixture.training("big-gang", env: "dev", workers: 3, outcome: "run"))
        try await eventually("the gang's wait is explained", timeout: .seconds(20)) {
            Self.json(try await server.get("/v1/workloads/\(gang)/why", token: token).body).description.contains("of one cluster")
        }
        #expect(try await workload(gang)["state"] as? String == "queued")
        _ = try await server.post("/v1/workloads/\(gang)/cancel", token: token, body: "")

        // East now holds 4 (prod) + 2 (dataset) of its 8 GPUs: a dev g4 (4 GPUs) fits nowhere there and runs on west at once.
        let clock = ContinuousClock()
        let submitted = clock.now
        let spill = try await submit(FleetFixture.training("spill", env: "dev", outcome: "run"))
        try await eventually("spill runs", timeout: .seconds(60), every: .milliseconds(100)) { try await workload(spill)["state"] as? String == "running" }
        let spillTook = clock.now - submitted
        #expect(try await workload(spill)["cluster"] as? String == "west")
        print("a workload that fits nowhere on east: submit to running on west in \(spillTook)")

        // Failover: spill runs on west; kill -9 of west's API server. Its next attempt runs on east (room freed first).
        _ = try await server.post("/v1/workloads/\(data)/cancel", token: token, body: "")
        try await eventually("the dataset job's GPUs are free on east", timeout: .seconds(60)) { try await workload(data)["state"] as? String == "cancelled" }
        #expect(try await rigs.pods(of: spill, in: "west").count == 1)
        try rigs.killAPIServer("west")
        let killed = clock.now
        try await eventually("spill runs on east", timeout: .seconds(90), every: .milliseconds(100)) {
            let w = try await workload(spill)
            return w["cluster"] as? String == "east" && w["state"] as? String == "running"
        }
        let failover = clock.now - killed
        print("failover: west's API server killed -> spill running on east in \(failover) (clusterLostTimeout 5s)")
        #expect(failover < .seconds(10 + 5), "target: under 10 s plus clusterLostTimeout")
        let moved = try await workload(spill)
        #expect((moved["attempt"] as? Int ?? 0) >= 2 && moved["cause"] as? String == "ClusterLost")
        seen = try await clusters()
        #expect(seen["west"]?["lost"] as? Bool == true && seen["west"]?["failovers"] as? Int == 1)

        // West comes back: what spill left there is deleted, and spill runs once, on east.
        try rigs.restartAPIServer("west")
        try await eventually("west answers again", timeout: .seconds(90), every: .milliseconds(200)) { (try await clusters())["west"]?["reachable"] as? Bool == true }
        try await eventually("spill's objects are gone from west", timeout: .seconds(60), every: .milliseconds(200)) {
            let jobs = try await rigs.jobs(of: spill, in: "west")
            let pods = try await rigs.pods(of: spill, in: "west")
            return jobs == 0 && pods.isEmpty
        }
        #expect(try await rigs.pods(of: spill, in: "east").count == 1)
        #expect(try await workload(spill)["state"] as? String == "running")
    }
}
}

extension Replica {
    /// The admin token `tarmac up` saved to its credentials file.
    static func adminToken(_ r: Replica) throws -> String {
        guard let d = FileManager.default.contents(atPath: r.credentials), let o = try JSONSerialization.jsonObject(with: d) as? [String: Any],
              let contexts = o["contexts"] as? [String: [String: Any]], let t = contexts["127.0.0.1:\(r.port)"]?["token"] as? String else {
            throw TestTimeout("no admin token in \(r.credentials)")
        }
        return t
    }
}
