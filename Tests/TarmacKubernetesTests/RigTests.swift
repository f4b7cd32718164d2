import TarmacModel
import TarmacMetering
import Logging
import TarmacCore
import Foundation
import Testing
import TarmacContract
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting
import TarmacWorkdir

/// A control plane with the Kubernetes backend on the test control plane (real kube-apiserver, kube-scheduler,
/// kube-controller-manager and etcd; the node agent plays the kubelets), its store in `dir`.
final class RigSession: @unchecked Sendable {
    static let contract: Contract = {
        let r = ContractLoader.load(Fixtures.path("Tests/Fixtures/kubernetes/rig-platform.yaml"))
        guard let c = r.contract else { fatalError("the rig platform does not load: \(r.diagnostics)") }
        return c
    }()
    static let admin = Principal(tokenID: "t", name: "rig-tests", role: .admin, team: nil)

    let dir: TemporaryDirectory
    let client: KubeClient
    let backend: KubernetesBackend
    let cp: ControlPlane
    let loop: Task<Void, Never>

    init(dir: TemporaryDirectory? = nil, contract: Contract = RigSession.contract, unschedulableGrace: TimeInterval = 60,
         tick: Duration? = nil) async throws {
        let access = try KubeConfig.load(path: try #require(KubeRig.kubeconfig), context: nil)
        self.dir = try dir ?? TemporaryDirectory(prefix: "tarmac-rig")
        client = try KubeClient(access)
        backend = KubernetesBackend(client: client, contract: contract,
                                    options: KubernetesBackendOptions(logDirectory: self.dir.path + "/logs", unschedulableGrace: unschedulableGrace,
                                                                      platformResync: .seconds(3600)))
        try await backend.start()
        var config = ControlPlaneConfig(inventoryRefresh: .milliseconds(500), advertiseURL: "https://tarmac.rig.example")
        config.gatewayURL = "http://tarmac.tarmac-system.svc:8081"
        if let tick { config.tick = tick }
        cp = ControlPlane(contract: contract, store: try SQLiteStore(path: self.dir.path + "/tarmac.db"), backend: backend, config: config)
        try await cp.start()
        let cp = self.cp
        loop = Task { await cp.run() }
    }

    func close() async {
        loop.cancel()
        await backend.shutdown()
    }

    static func doc(_ kind: String, _ name: String, team: String = "rig", size: String, spec: String, env: [String: String]) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: \(kind)
        metadata: {name: \(name), team: \(team), env: test}
        spec:
          size: \(size)
          image: docker.io/library/busybox:1.36
        \(spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
          env: {\(env.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", "))}

        """
    }

    func submit(_ doc: String) async throws -> String {
        try await cp.submit(text: doc, requestID: nil, by: Self.admin, runsImages: true).workload.id
    }

    /// Waits until the control plane's loop has run `n` more scheduling cycles (one at least every second): whatever it
    /// would do about the cluster as it is now, it has done by then. For checks that something does *not* happen.
    func settled(cycles n: Int = 3) async throws {
        let start = await cp.cycles
        try await eventually("\(n) more scheduling cycles", timeout: .seconds(30), every: .milliseconds(100)) { await self.cp.cycles >= start + n }
    }

    func wait(_ id: String, _ what: String, timeout: Duration = .seconds(120), until: (WorkloadEntry) -> Bool) async throws -> WorkloadEntry {
        let end = ContinuousClock.now + timeout
        var last: WorkloadEntry?
        while ContinuousClock.now < end {
            last = await cp.current(id)
            if let e = last, until(e) { return e }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestTimeout("\(what): last \(last.map { "\($0.state.rawValue) attempt \($0.attempt) \($0.cause ?? "") \($0.message ?? "")" } ?? "nothing")")
    }

    /// The objects of a workload in the cluster, by kind, as "kind/name uid".
    func objects(_ id: String) async throws -> [String] {
        var out: [String] = []
        for (collection, kind) in [("/apis/batch/v1/jobs", "Job"), ("/apis/apps/v1/deployments", "Deployment"), ("/api/v1/pods", "Pod"),
                                   ("/api/v1/serviceaccounts", "ServiceAccount"), ("/api/v1/services", "Service")] {
            for o in try await client.list(collection + "?labelSelector=tarmac.dev/workload-id%3D\(id)").items {
                let md = o["metadata"] as? [String: Any] ?? [:]
                out.append("\(kind)/\(md["name"] as? String ?? "") \(md["uid"] as? String ?? "")")
            }
        }
        return out.sorted()
    }

    func pods(_ id: String, attempt: Int? = nil) async throws -> [[String: Any]] {
        var selector = "tarmac.dev/workload-id%3D\(id)"
        if let attempt { selector += ",tarmac.dev/attempt%3D\(attempt)" }
        return try await client.list("/api/v1/pods?labelSelector=" + selector).items
    }
}

/// When a pod ran, by its status.
struct PodTimes: Sendable {
    var start: Date?
    var end: Date?
    init(_ t: (start: Date?, end: Date?)) { (start, end) = t }
}

struct TestTimeout: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension RealCluster {
/// What the Kubernetes backend does, on the test control plane: each test names what it proves.
@Suite struct RigTests {
    @Test(.enabled(if: KubeRig.bin != nil, "set TARMAC_K8S_BIN to start the test control plane"))
    func theTestControlPlaneStarts() {
        #expect(KubeRig.started.failure == nil, Comment(rawValue: KubeRig.started.failure ?? ""))
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func thePlatformIsAppliedAsRenderedAndStaysConverged() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let first = await s.backend.platformOutcomes
        #expect(!first.isEmpty && !first.contains { $0.action == .failed }, "\(first.filter { $0.action == .failed })")
        // Applied again: nothing differs (a server default such as an omitted `globalDefault: false` is not drift).
        let again = try await s.backend.applyPlatform()
        #expect(again.allSatisfy { $0.action == .unchanged && $0.drift.isEmpty }, "\(again.filter { $0.action != .unchanged }.map { "\($0.kind) \($0.name): \($0.drift)" })")
        // Someone edits the team's quota behind Tarmac's back: the next pass names the drift and puts it back.
        let quota = "/api/v1/namespaces/rig-test/resourcequotas/tarmac-quota"
        _ = try await s.client.mergePatch(quota, ["spec": ["hard": ["requests.cpu": "999"]]])
        let corrected = try await s.backend.applyPlatform()
        let fixed = try #require(corrected.first { $0.kind == "ResourceQuota" && $0.namespace == "rig-test" })
        #expect(fixed.action == .updated && fixed.drift.contains { $0.contains("requests.cpu: 999") }, "\(fixed)")
        let hard = (try await s.client.get(quota)["spec"] as? [String: Any])?["hard"] as? [String: Any]
        #expect(hard?["requests.cpu"] as? String != "999", "\(String(describing: hard))")
        #expect(try await s.backend.applyPlatform().allSatisfy { $0.action == .unchanged })
        let ns = try await s.client.get("/api/v1/namespaces/rig-test")
        #expect(((ns["metadata"] as? [String: Any])?["labels"] as? [String: String])?["pod-security.kubernetes.io/enforce"] == "restricted")
        let nodes = try await s.backend.nodes()
        #expect(Set(nodes.map(\.name)) == ["gpu-a", "gpu-b", "cpu-a", "cpu-b"], "\(nodes)")
        #expect(nodes.first { $0.name == "gpu-a" }?.gpus == 8)
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aGangPlacedTwoPlusOneLandsTwoPlusOne() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let id = try await s.submit(RigSession.doc("TrainingJob", "gang-\(UInt16.random(in: 0...9999))", size: "gpu4",
                                                   spec: "workers: 3\nmaxDuration: 10m", env: ["TEST_SECONDS": "4"]))
        let running = try await s.wait(id, "the gang runs") { $0.state == .running }
        let planned = running.placements.map(\.node)
        #expect(Dictionary(grouping: planned, by: { $0 }).values.map(\.count).sorted() == [1, 2], "3 pods of 4 GPUs on two 8-GPU nodes: \(planned)")
        let pods = try await s.pods(id, attempt: 1)
        #expect(pods.count == 3)
        for p in pods {
            let index = try #require(AttemptStatus.index(p))
            let node = (p["spec"] as? [String: Any])?["nodeName"] as? String
            #expect(node == planned[index], "pod \(index) was bound to \(node ?? "nothing"); Tarmac placed it on \(planned[index])")
            #expect(!PodPinning.isGated(p))
        }
        let done = try await s.wait(id, "the gang succeeds") { $0.state.isTerminal }
        #expect(done.state == .succeeded, "\(done.cause ?? "") \(done.message ?? "")")
        let log = try await s.cp.readLog(workload: id, attempt: 1, pod: 2, from: 0, max: 1 << 16)
        #expect(String(decoding: log.data, as: UTF8.self).contains("ran on \(planned[2])"), "the log comes back through the API server")
    }

    /// The loop's tick is an hour here: the job is pinned, seen running and seen ending only because the watches wake the
    /// loop when a pod appears or changes phase.
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func watchedChangesWakeTheControlPlane() async throws {
        let s = try await RigSession(tick: .seconds(3600))
        defer { Task { await s.close() } }
        let id = try await s.submit(RigSession.doc("BatchJob", "woken-\(UInt16.random(in: 0...9999))", size: "tiny", spec: "tasks: 1\nparallelism: 1",
                                                   env: ["TEST_SECONDS": "1"]))
        let done = try await s.wait(id, "the job ends without a tick", timeout: .seconds(90)) { $0.state.isTerminal }
        #expect(done.state == .succeeded, "\(done.cause ?? "") \(done.message ?? "")")
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func failuresAreTriagedFromRealStatus() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let n = UInt16.random(in: 0...9999)
        let cases: [(String, String, String)] = [("oom", "OutOfMemory", "oom"), ("fail:3", "ApplicationError", "exit"), ("image-pull", "ImagePullFailed", "pull")]
        var ids: [(String, String)] = []
        for (outcome, cause, name) in cases {
            let id = try await s.submit(RigSession.doc("BatchJob", "\(name)-\(n)", size: "tiny", spec: "tasks: 1\nparallelism: 1\nmaxRetries: 0",
                                                       env: ["TEST_OUTCOME": outcome, "TEST_SECONDS": "1"]))
            ids.append((id, cause))
        }
        for (id, cause) in ids {
            let e = try await s.wait(id, "\(cause) is reported", timeout: .seconds(180)) { $0.state.isTerminal }
            #expect(e.state == .failed && e.cause == cause, "\(e.state.rawValue) \(e.cause ?? "") \(e.message ?? "")")
            if cause == "ApplicationError" { #expect(e.exitCode == 3) }
            if cause == "ImagePullFailed" { #expect(e.message?.contains("busybox:1.36") == true, "\(e.message ?? "")") }
        }
    }

    /// On Kubernetes a pod reports checkpoints like a local one: the URL and its attempt's credential reach the container
    /// from a Secret (never inline in the pod spec); the control plane takes that credential; the Secret goes with the workload.
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func podsGetTheirCheckpointCredentialFromASecret() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let id = try await s.submit(RigSession.doc("BatchJob", "ckpt-\(UInt16.random(in: 0...9999))", size: "tiny", spec: "tasks: 1\nparallelism: 1",
                                                   env: ["TEST_SECONDS": "600"]))
        _ = try await s.wait(id, "it runs") { $0.state == .running }
        let pod = try #require(try await s.pods(id, attempt: 1).first)
        let containers = ((pod["spec"] as? [String: Any])?["containers"] as? [[String: Any]]) ?? []
        let env = (containers.first?["env"] as? [[String: Any]]) ?? []
        let tokenRef = try #require(env.first { $0["name"] as? String == "TARMAC_CHECKPOINT_TOKEN" })
        #expect(tokenRef["value"] == nil, "the credential is not inline in the pod spec")
        let ref = try #require(((tokenRef["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: Any]))
        let name = try #require(ref["name"] as? String)
        let ns = try #require((pod["metadata"] as? [String: Any])?["namespace"] as? String)
        let secret = try await s.client.get("/api/v1/namespaces/\(ns)/secrets/\(name)")
        let data = try #require(secret["data"] as? [String: Any])
        let token = String(decoding: Data(base64Encoded: try #require(data["token"] as? String))!, as: UTF8.self)
        let url = String(decoding: Data(base64Encoded: try #require(data["url"] as? String))!, as: UTF8.self)
        #expect(url == "https://tarmac.rig.example/v1/workloads/\(id)/checkpoint")
        // Where it obtains its identity and calls tools, from the same Secret.
        for (variable, key, value) in [("TARMAC_IDENTITY_URL", "identity", "https://tarmac.rig.example"), ("TARMAC_GATEWAY_URL", "gateway", "http://tarmac.tarmac-system.svc:8081")] {
            let ref = (env.first { $0["name"] as? String == variable }?["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: Any]
            #expect(ref?["name"] as? String == name && ref?["key"] as? String == key, "\(variable): \(String(describing: ref))")
            #expect((data[key] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } == value)
        }
        let e = try await s.cp.checkpoint(id, step: 9, location: nil, by: nil, workloadToken: token)
        #expect(e.lastCheckpoint?.step == 9 && e.lastCheckpoint?.attempt == 1)
        _ = try await s.cp.cancel(id, by: RigSession.admin)
        _ = try await s.wait(id, "it is cancelled") { $0.state == .cancelled }
        await #expect(throws: KubeError.self) { _ = try await s.client.get("/api/v1/namespaces/\(ns)/secrets/\(name)") }
    }

    /// A working directory reaches Kubernetes pods through an init container that fetches it from the control plane
    /// with the attempt's credential (from the Secret) into an emptyDir where the containers start. The node agent runs
    /// no containers, so what is checked is that the real API server, its admission (Pod Security restricted, Tarmac's
    /// policies) and the Job controller take such pods, and that the credential in the Secret is the one that fetches it.
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aWorkdirReachesThePodsThroughAnInitContainer() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let store = try WorkdirStore(root: s.dir.path + "/workdirs")
        try s.dir.write("code/train.py", "print('hi')\n")
        let packed = try WorkdirPacker.pack(s.dir.path + "/code")
        try store.put(packed.digest, packed.archive)
        let doc = RigSession.doc("BatchJob", "wd-\(UInt16.random(in: 0...9999))", size: "tiny", spec: "tasks: 1\nparallelism: 1\ncommand: [python3, train.py]",
                                 env: ["TEST_SECONDS": "600"])
        let id = try await s.cp.submit(text: doc, requestID: nil, by: RigSession.admin, runsImages: true, workdir: packed.digest).workload.id
        _ = try await s.wait(id, "it runs") { $0.state == .running }
        let pod = try #require(try await s.pods(id, attempt: 1).first)
        let spec = try #require(pod["spec"] as? [String: Any])
        let inits = (spec["initContainers"] as? [[String: Any]]) ?? []
        let fetch = try #require(inits.first { $0["name"] as? String == "tarmac-workdir" })
        #expect((fetch["command"] as? [String])?.last?.contains("tar -x -C /workspace") == true)
        let main = try #require((spec["containers"] as? [[String: Any]])?.first)
        #expect(main["workingDir"] as? String == "/workspace")
        #expect(((spec["volumes"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "tarmac-workdir" && $0["emptyDir"] != nil })
        let ns = try #require((pod["metadata"] as? [String: Any])?["namespace"] as? String)
        let secretName = try #require((((fetch["env"] as? [[String: Any]])?.first?["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: Any])?["name"] as? String)
        let data = try #require(try await s.client.get("/api/v1/namespaces/\(ns)/secrets/\(secretName)")["data"] as? [String: Any])
        let decode = { (k: String) in String(decoding: Data(base64Encoded: data[k] as? String ?? "") ?? Data(), as: UTF8.self) }
        #expect(decode("workdir") == "https://tarmac.rig.example/v1/workloads/\(id)/workdir")
        #expect(try await s.cp.workdir(of: id, by: nil, workloadToken: decode("token")) == packed.digest)
        _ = try await s.cp.cancel(id, by: RigSession.admin)
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aRestartInTheMiddleAdoptsWithoutDuplicatesAndCancelCleansUp() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-rig-restart")
        let first = try await RigSession(dir: dir)
        let id = try await first.submit(RigSession.doc("BatchJob", "long-\(UInt16.random(in: 0...9999))", size: "tiny", spec: "tasks: 2\nparallelism: 2",
                                                   env: ["TEST_SECONDS": "600"]))
        _ = try await first.wait(id, "it runs") { $0.state == .running }
        let before = try await first.objects(id)
        #expect(before.filter { $0.hasPrefix("Pod/") }.count == 2 && before.contains { $0.hasPrefix("Job/") }, "\(before)")
        // The control plane goes away (nothing is deleted) and comes back on the same store.
        await first.close()
        let s = try await RigSession(dir: dir)
        defer { Task { await s.close() } }
        try await s.settled()
        let after = try await s.objects(id)
        #expect(after == before, "the same objects (same uids), none created twice")
        let e = try #require(await s.cp.current(id))
        #expect(e.state == .running && e.attempt == 1)
        _ = try await s.cp.cancel(id, by: RigSession.admin)
        _ = try await s.wait(id, "it is cancelled") { $0.state == .cancelled }
        var left: [String] = []
        for _ in 0..<50 {
            left = try await s.objects(id)
            if left.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(left.isEmpty, "\(left)")
    }

    /// Tarmac is stopped while pods start and end, then comes back: each workload's start and end are its pod's own, a
    /// start is recorded for the ones that ran unseen, and the CPU-seconds billed are what the pod ran (within 1 s).
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func usageIsWhatThePodsRanThroughADowntimeOfTheControlPlane() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-rig-downtime")
        let first = try await RigSession(dir: dir)
        let tag = UInt16.random(in: 0...9999)
        // Each pod's image "pulls" (Pending) for `pull` seconds, then it runs for `run` seconds. Tarmac is down for 9 s from
        // when all three pods exist: the first starts and ends then (Tarmac saw it only admitted), the second was
        // running and ends then, the third starts then and ends after Tarmac is back.
        let shapes = [(pull: 3, run: 2), (pull: 0, run: 3), (pull: 4, run: 12)]
        var ids: [String] = []
        for (i, shape) in shapes.enumerated() {
            ids.append(try await first.submit(RigSession.doc("BatchJob", "down-\(tag)-\(i)", size: "tiny", spec: "tasks: 1",
                                                             env: ["TEST_PULL_SECONDS": "\(shape.pull)", "TEST_SECONDS": "\(shape.run)"])))
        }
        try await eventually("each Job has its pod", timeout: .seconds(60), every: .milliseconds(100)) {
            for id in ids where try await first.pods(id).isEmpty { return false }
            return true
        }
        _ = try await first.wait(ids[1], "the second runs") { $0.state == .running }
        var seenBefore: [WorkloadState?] = []
        for id in ids { seenBefore.append(await first.cp.current(id)?.state) }
        await first.close()
        // The pods' last status, kept as they change: Tarmac deletes a finished workload's Job and pods.
        let client = first.client, watched = ids
        let lastPods = Task { () -> [String: PodTimes] in
            var last: [String: PodTimes] = [:]
            while !Task.isCancelled {
                for id in watched {
                    let items = (try? await client.list("/api/v1/pods?labelSelector=tarmac.dev/workload-id%3D\(id)").items) ?? []
                    if let pod = items.first { last[id] = PodTimes(AttemptStatus.runTimes(pod)) }
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return last
        }
        try await Task.sleep(for: .seconds(9))
        let s = try await RigSession(dir: dir)
        defer { Task { await s.close() } }
        var done: [WorkloadEntry] = []
        for (i, id) in ids.enumerated() { done.append(try await s.wait(id, "workload \(i) succeeds") { $0.state == .succeeded }) }
        lastPods.cancel()
        let pods = await lastPods.value
        let cpu = 0.1
        for (i, e) in done.enumerated() {
            let ran = try #require(pods[e.id], "workload \(i)'s pod was seen")
            let start = try #require(ran.start), end = try #require(ran.end)
            let started = try #require(e.startedAt), finished = try #require(e.finishedAt)
            print("workload \(i) (\(seenBefore[i]?.rawValue ?? "-") when Tarmac stopped): pod ran \(start)..\(end), recorded \(started)..\(finished), billed \(e.cpuSeconds / cpu) s of \(end.timeIntervalSince(start)) s")
            #expect(abs(started.timeIntervalSince(start)) <= 1, "workload \(i): started \(started), its pod \(start)")
            #expect(abs(finished.timeIntervalSince(end)) <= 1, "workload \(i): finished \(finished), its pod \(end)")
            #expect(abs(e.cpuSeconds / cpu - end.timeIntervalSince(start)) <= 1, "workload \(i): billed \(e.cpuSeconds / cpu) s, its pod ran \(end.timeIntervalSince(start)) s")
            let events = try await s.cp.store.transitions(after: 0, limit: 10_000).filter { $0.workload == e.id }.map(\.event)
            #expect(events.contains("run") && events.last == "succeed", "workload \(i): \(events)")
        }
        #expect(seenBefore[0] == .admitted && seenBefore[1] == .running, "\(seenBefore)")
    }

    /// GPU telemetry on Kubernetes: a dcgm-exporter pod (labelled as the GPU operator labels it, bound to the node the
    /// job runs on) whose page (recorded shape, served here at the pod's IP) says which pod uses which GPU; Tarmac reads
    /// it through the API server's pod proxy, resolves the pods to its workload, and the job gets its four GPUs'
    /// reading, whatever device indices the kubelet gave it.
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func dcgmExporterIsReadThroughThePodProxyAndItsPodsAreTheWorkloads() async throws {
        let ips = (try? Run.program("/bin/sh", ["-c", "hostname -I"]).stdout) ?? ""
        guard let ip = ips.split(separator: " ").map(String.init).first(where: { $0.contains(".") && !$0.hasPrefix("127.") }) else {
            print("skipped: this machine has no IPv4 address but loopback, and the API server does not proxy to loopback")
            return
        }
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let id = try await s.submit(RigSession.doc("BatchJob", "dcgm-\(UInt16.random(in: 0...9999))", size: "gpu4", spec: "tasks: 1", env: ["TEST_SECONDS": "600"]))
        _ = try await s.wait(id, "it runs") { $0.state == .running }
        let pod = try #require(try await s.pods(id).first)
        let md = try #require(pod["metadata"] as? [String: Any])
        let podKey = "\(md["namespace"] as? String ?? "")/\(md["name"] as? String ?? "")"
        let node = try #require((pod["spec"] as? [String: Any])?["nodeName"] as? String)
        // The exporter's page: the kubelet gave the job GPUs 4-7 (Tarmac placed it on four of the node's GPUs, by its own
        // count); GPUs 0-3 idle, used by no pod.
        let dir = try TemporaryDirectory(prefix: "tarmac-dcgm")
        var page = "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
        for g in 0..<8 {
            let who = g >= 4 ? ",namespace=\"\(md["namespace"] as? String ?? "")\",pod=\"\(md["name"] as? String ?? "")\",container=\"main\"" : ""
            let labels = "gpu=\"\(g)\",UUID=\"GPU-\(g)\",device=\"nvidia\(g)\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"dcgm-exporter-x\"\(who)"
            page += "DCGM_FI_DEV_GPU_UTIL{\(labels)} \(g >= 4 ? 77 : 0)\n"
            page += "DCGM_FI_DEV_FB_USED{\(labels)} \(g >= 4 ? 40960 : 0)\n"
            page += "DCGM_FI_DEV_CLOCKS_EVENT_REASONS{\(labels)} \(g == 5 ? 64 : 0)\n"
        }
        try dir.write("served/metrics", page)
        let port = try TestPorts.free()
        let http = Process()
        http.executableURL = URL(fileURLWithPath: Run.which("python3") ?? "/usr/bin/python3")
        http.arguments = ["-m", "http.server", String(port), "--bind", ip, "--directory", dir.path + "/served"]
        http.standardOutput = FileHandle.nullDevice
        http.standardError = FileHandle.nullDevice
        try http.run()
        defer { kill(http.processIdentifier, SIGKILL); http.waitUntilExit() }
        // The exporter "pod" on the job's node; the node agent runs it, then its IP is this machine's.
        let exporter = "dcgm-exporter-\(UInt16.random(in: 0...9999))"
        _ = try await s.client.create("/api/v1/namespaces/default/pods", [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": exporter, "labels": ["app": "nvidia-dcgm-exporter"]],
            "spec": ["nodeName": node, "containers": [["name": "nvidia-dcgm-exporter", "image": "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
                                                       "ports": [["containerPort": port, "name": "metrics"]]]]],
        ])
        defer { Task { try? await s.client.delete("/api/v1/namespaces/default/pods/\(exporter)") } }
        try await eventually("the exporter pod runs", timeout: .seconds(30), every: .milliseconds(100)) {
            ((try await s.client.get("/api/v1/namespaces/default/pods/\(exporter)"))["status"] as? [String: Any])?["phase"] as? String == "Running"
        }
        _ = try await s.client.mergePatch("/api/v1/namespaces/default/pods/\(exporter)/status", ["status": ["podIP": ip, "podIPs": [["ip": ip]]]])

        var settings = DCGMExporterSettings()
        settings.selectors = ["app=nvidia-dcgm-exporter"]
        settings.namespace = "default"
        settings.port = port
        let source = DCGMExporterSource(client: s.client, settings: settings, backend: s.backend, logger: Logger(label: "test"))
        var samples: [GPUSample] = []
        try await eventually("the page is read through the pod proxy", timeout: .seconds(20), every: .milliseconds(200)) {
            await source.refresh()
            samples = await source.latest()
            return samples.count == 8
        }
        #expect(samples.allSatisfy { $0.node == node }, "each GPU on the exporter pod's node, not its Hostname label: \(samples.map(\.node))")
        #expect(samples.filter { $0.gpu >= 4 }.allSatisfy { $0.pods == [podKey] && $0.workloads == [id] }, "\(samples.map { "\($0.gpu) \($0.pods) \($0.workloads)" })")
        #expect(samples.filter { $0.gpu < 4 }.allSatisfy { $0.workloads.isEmpty })
        #expect(samples.first { $0.gpu == 5 }?.throttling == ["hw_thermal_slowdown"])
        // Attributed to the job by the exporter's pods, not by Tarmac's device indices.
        let telemetry = GPUTelemetryService(source: source, controlPlane: s.cp)
        await telemetry.sample()
        let reading = try #require(telemetry.latest().workloads.first { $0.workload == id })
        #expect(reading.gpus == 4 && reading.utilization == 4 * 77 && reading.memoryUsedMiB == 4 * 40960 && reading.throttling == ["hw_thermal_slowdown"], "\(reading)")
        #expect(await s.cp.gpuReading(id)?.utilization == 308)
        _ = try await s.cp.cancel(id, by: RigSession.admin)
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func preemptionSuspendsTheGangAndItComesBackAsTheNextAttempt() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let n = UInt16.random(in: 0...9999)
        let low = try await s.submit(RigSession.doc("BatchJob", "low-\(n)", size: "gpu4", spec: "tasks: 4\nparallelism: 4\npriority: low",
                                                    env: ["TEST_SECONDS": "600"]))
        _ = try await s.wait(low, "the low-priority job fills the GPUs") { $0.state == .running }
        let high = try await s.submit(RigSession.doc("TrainingJob", "high-\(n)", size: "gpu4", spec: "workers: 1\nmaxDuration: 10m\npriority: high",
                                                     env: ["TEST_SECONDS": "3"]))
        _ = try await s.wait(high, "the high-priority job runs", timeout: .seconds(180)) { $0.state == .running }
        let preempted = try #require(await s.cp.current(low))
        #expect(preempted.state == .queued || preempted.attempt >= 2, "\(preempted.state.rawValue) \(preempted.message ?? "")")
        #expect(try await s.pods(low, attempt: 1).isEmpty, "the preempted attempt's pods are gone")
        _ = try await s.wait(high, "the high-priority job succeeds") { $0.state == .succeeded }
        let back = try await s.wait(low, "the low-priority job runs again", timeout: .seconds(180)) { $0.state == .running && $0.attempt == 2 }
        #expect(try await s.pods(low, attempt: 2).count == 4)
        _ = try await s.cp.cancel(back.id, by: RigSession.admin)
        _ = try await s.wait(low, "cancelled") { $0.state == .cancelled }
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aServicesReplicasArePinnedAndAnExtraReplicaStaysGated() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let name = "serve-\(UInt16.random(in: 0...9999))"
        let id = try await s.submit(RigSession.doc("InferenceService", name, size: "small", spec: "model: echo@1\nreplicas: 3\nport: 8080", env: [:]))
        let running = try await s.wait(id, "the service runs") { $0.state == .running }
        var planned = running.placements.map(\.node)
        var bound = try await s.pods(id, attempt: 1).compactMap { ($0["spec"] as? [String: Any])?["nodeName"] as? String }
        #expect(planned.count == 3 && bound.sorted() == planned.sorted(), "Tarmac placed \(planned); the scheduler bound \(bound)")
        // Someone (an autoscaler, a person with kubectl) scales the Deployment past what the engine admitted: the extra
        // pod is created, but it stays behind Tarmac's gate, unscheduled, holding nothing.
        _ = try await s.client.mergePatch("/apis/apps/v1/namespaces/rig-test/deployments/\(name)", ["spec": ["replicas": 4]])
        var extra: [[String: Any]] = []
        for _ in 0..<50 {
            extra = try await s.pods(id, attempt: 1).filter { PodPinning.isGated($0) }
            if !extra.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await s.settled()
        extra = try await s.pods(id, attempt: 1).filter { PodPinning.isGated($0) }
        #expect(extra.count == 1 && (extra.first?["spec"] as? [String: Any])?["nodeName"] == nil, "the fourth replica must stay gated")
        // A replica that dies is replaced on the node that lost it.
        let victim = try #require(try await s.pods(id, attempt: 1).first { !PodPinning.isGated($0) })
        let lost = try #require((victim["spec"] as? [String: Any])?["nodeName"] as? String)
        try await s.client.delete("/api/v1/namespaces/rig-test/pods/\(AttemptStatus.name(victim))")
        for _ in 0..<100 {
            bound = try await s.pods(id, attempt: 1).filter { !PodPinning.isGated($0) && (($0["metadata"] as? [String: Any])?["deletionTimestamp"] == nil) }
                .compactMap { ($0["spec"] as? [String: Any])?["nodeName"] as? String }
            if bound.count == 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        planned = (await s.cp.current(id))?.placements.map(\.node) ?? []
        #expect(bound.sorted() == planned.sorted(), "after losing a pod on \(lost): bound \(bound), placed \(planned)")
        _ = try await s.cp.cancel(id, by: RigSession.admin)
        _ = try await s.wait(id, "cancelled") { $0.state == .cancelled }
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func autoscalingIsAdmittedReplicaByReplicaAndNeverOvercommits() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let name = "scale-\(UInt16.random(in: 0...9999))"
        let deployment = "/apis/apps/v1/namespaces/tight-test/deployments/\(name)"
        let id = try await s.submit(RigSession.doc("InferenceService", name, team: "tight", size: "small", spec: "model: echo@1\nreplicas: 1..3\nport: 8080", env: [:]))
        _ = try await s.wait(id, "the service runs with its minimum") { $0.state == .running && $0.podCount == 1 }
        _ = try await s.client.get("/apis/autoscaling/v2/namespaces/tight-test/horizontalpodautoscalers/\(name)")
        // The autoscaler asks for 3 (as the HPA does, through the Deployment's scale); team tight's quota covers 2.
        _ = try await s.client.mergePatch(deployment, ["spec": ["replicas": 3]])
        let scaled = try await s.wait(id, "a second replica is admitted") { $0.podCount == 2 }
        #expect(scaled.placements.count == 2 && scaled.charged?.cpuMilli == 1000, "\(scaled.placements) \(String(describing: scaled.charged))")
        var pods: [[String: Any]] = []
        for _ in 0..<50 {
            pods = try await s.pods(id, attempt: 1)
            if pods.filter({ !PodPinning.isGated($0) && (($0["spec"] as? [String: Any])?["nodeName"] as? String) != nil }).count == 2 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let bound = pods.compactMap { ($0["spec"] as? [String: Any])?["nodeName"] as? String }
        #expect(bound.sorted() == scaled.placements.map(\.node).sorted(), "bound \(bound), placed \(scaled.placements.map(\.node))")
        // The third replica never runs: it waits behind the gate, or the namespace's ResourceQuota (rendered from the
        // same contract) refuses to create it at all.
        #expect(pods.count - pods.filter(PodPinning.isGated).count == 2, "\(pods.map(AttemptStatus.name))")
        try await s.settled()
        #expect(await s.cp.current(id)?.podCount == 2, "never more than the quota allows")
        // Scaled down to 1: the slot of the replica that went away is freed.
        _ = try await s.client.mergePatch(deployment, ["spec": ["replicas": 1]])
        let down = try await s.wait(id, "the service is back to one replica") { $0.podCount == 1 }
        #expect(down.charged?.cpuMilli == 500 && down.placements.count == 1, "\(String(describing: down.charged))")
        let records = try await SQLiteStore(path: s.dir.path + "/tarmac.db").auditRecords(since: nil, limit: nil).filter { $0.object == "workload/\(id)" }
        #expect(records.map(\.action).contains("scale-up") && records.map(\.action).contains("scale-down"), "\(records.map(\.action))")
        _ = try await s.cp.cancel(id, by: RigSession.admin)
        _ = try await s.wait(id, "cancelled") { $0.state == .cancelled }
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func theExampleWorkloadsRunWhereTarmacPlacedThem() async throws {
        // The example platform on the same cluster: its pools take h100-a/b (train-h100), l4-a (serve-l4, time-sliced)
        // and cpu-a/b (cpu). embed-batch is left out: its 20 L4s are more than team ads may ever hold (4, borrowing 8).
        let s = try await RigSession(contract: BackendSupport.contract)
        defer { Task { await s.close() } }
        let inventory = try await s.backend.nodes()
        #expect(inventory.first { $0.name == "l4-a" }?.gpus == 4, "16 slices of L4s shared four ways are 4 GPUs: \(inventory)")
        // What the platform team provides beside Tarmac: ranker-ft mounts the dataset claim clicks-v3, and its checkpoint
        // claim needs a volume (the rig has no storage provisioner). Without them its pods are Unschedulable
        // ("persistentvolumeclaim \"clicks-v3\" not found"), which is how this test first failed.
        let n = UInt16.random(in: 0...9999)
        for (pv, size, mode, claim) in [("clicks-\(n)", "1Gi", "ReadOnlyMany", "clicks-v3"), ("ckpt-\(n)", "200Gi", "ReadWriteMany", "ranker-ft-checkpoint")] {
            _ = try await s.client.create("/api/v1/persistentvolumes", [
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": ["name": pv, "labels": ["tarmac.dev/test": "rig"]],
                "spec": ["capacity": ["storage": size], "accessModes": [mode], "hostPath": ["path": "/tmp/\(pv)"], "storageClassName": "",
                         "persistentVolumeReclaimPolicy": "Delete", "claimRef": ["namespace": "search-dev", "name": claim]]])
        }
        _ = try? await s.client.create("/api/v1/namespaces/search-dev/persistentvolumeclaims", [
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": "clicks-v3"],
            "spec": ["accessModes": ["ReadOnlyMany"], "resources": ["requests": ["storage": "1Gi"]], "storageClassName": ""]])
        var ids: [String: String] = [:]
        for file in ["train-cpu.yaml", "echo-cpu.yaml", "ranker-ft.yaml", "ranker-serve.yaml", "support-agent.yaml"] {
            let text = try String(contentsOfFile: Fixtures.path("examples/workloads/\(file)"), encoding: .utf8)
            for (i, doc) in text.components(separatedBy: "\n---\n").enumerated() {
                // Placement is what this test is about: ranker-serve goes to prod without passing prod's promotion contract.
                ids["\(file)#\(i)"] = try await s.cp.submit(text: doc, requestID: nil, by: RigSession.admin, runsImages: true, servingGates: false).workload.id
            }
        }
        for (what, id) in ids.sorted(by: { $0.key < $1.key }) {
            let e = try await s.wait(id, "\(what) runs", timeout: .seconds(180)) { $0.state == .running || $0.state.isTerminal }
            #expect(e.state == .running || e.state == .succeeded, "\(what): \(e.state.rawValue) \(e.cause ?? "") \(e.message ?? "")")
            guard e.state == .running else { continue }
            let placed = e.placements.map(\.node).sorted()
            var bound: [String] = []
            for _ in 0..<50 {
                bound = try await s.pods(id, attempt: e.attempt).filter { ["Pending", "Running"].contains(($0["status"] as? [String: Any])?["phase"] as? String ?? "") }
                    .compactMap { ($0["spec"] as? [String: Any])?["nodeName"] as? String }.sorted()
                if bound == placed { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(bound == placed, "\(what): placed on \(placed), bound to \(bound)")
        }
        let serveID = try #require(ids["ranker-serve.yaml#0"])
        let serve = try #require(await s.cp.current(serveID))
        #expect(serve.placements.allSatisfy { $0.node == "l4-a" && $0.gpuMilli == 500 }, "two half L4s: \(serve.placements)")
        let ftID = try #require(ids["ranker-ft.yaml#0"])
        let ft = try #require(await s.cp.current(ftID))
        #expect(Set(ft.placements.map(\.node)) == ["h100-a", "h100-b"], "each worker on a whole H100 node: \(ft.placements)")
        for id in ids.values { _ = try await s.cp.cancel(id, by: RigSession.admin) }
        for id in ids.values { _ = try await s.wait(id, "ends") { $0.state.isTerminal } }
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aPodTheSchedulerCannotBindIsTriagedUnschedulableWithItsMessage() async throws {
        // A dataset whose claim nobody created: the real scheduler refuses the pod; after the grace period the attempt
        // fails as Unschedulable with the scheduler's words, and is retried.
        let s = try await RigSession(contract: BackendSupport.contract, unschedulableGrace: 2)
        defer { Task { await s.close() } }
        let doc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: TrainingJob
            metadata: {name: no-claim-\(UInt16.random(in: 0...9999)), team: search, env: dev, owner: alice@acme.example}
            spec:
              size: cpu-small
              workers: 1
              image: docker.io/library/python:3.12-slim
              datasets: [{name: catalog, mountPath: /data}]
              maxDuration: 10m
            """
        let id = try await s.cp.submit(text: doc, requestID: nil, by: RigSession.admin, runsImages: true).workload.id
        let e = try await s.wait(id, "the pod is triaged Unschedulable", timeout: .seconds(120)) { $0.cause == "Unschedulable" }
        #expect(e.message?.contains("catalog-2026-11") == true, "\(e.message ?? "")")
        #expect(e.state == .queued || e.state == .failed, "retried (or out of attempts): \(e.state.rawValue)")
        print("Unschedulable, as Tarmac reports it: \(e.message ?? "")")
        _ = try await s.cp.cancel(id, by: RigSession.admin)
    }

    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func aPersonsRawGPUPodIsDeniedByTheAdmissionPolicy() async throws {
        let s = try await RigSession()
        defer { Task { await s.close() } }
        let kubectl = try #require(KubeRig.bin.map { $0 + "/kubectl" }.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil },
                                   "build kubectl into TARMAC_K8S_BIN too")
        let alice = (try #require(KubeRig.kubeconfig) as NSString).deletingLastPathComponent + "/alice.kubeconfig"
        let dir = try TemporaryDirectory(prefix: "tarmac-rig-raw")
        let pod = try dir.write("pod.yaml", """
            apiVersion: v1
            kind: Pod
            metadata: {name: raw-gpu, namespace: rig-test}
            spec:
              securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
              containers:
              - name: main
                image: docker.io/library/busybox:1.36
                securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
                resources: {requests: {nvidia.com/gpu: "1", cpu: 100m, memory: 64Mi}, limits: {nvidia.com/gpu: "1", cpu: 100m, memory: 64Mi}}
            """)
        let r = try Run.program(kubectl, ["--kubeconfig", alice, "create", "-f", pod])
        #expect(r.status != 0, "a person's raw GPU pod must be refused: \(r.stdout)")
        #expect(r.stderr.contains("ValidatingAdmissionPolicy") && r.stderr.contains("denied"), "\(r.stderr)")
        print("kubectl as alice: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        // The same person may create a pod without a GPU: the policy is about GPUs, not about people.
        let plain = try dir.write("plain.yaml", try String(contentsOfFile: pod, encoding: .utf8)
            .replacingOccurrences(of: "raw-gpu", with: "raw-cpu").replacingOccurrences(of: "nvidia.com/gpu: \"1\", ", with: ""))
        let ok = try Run.program(kubectl, ["--kubeconfig", alice, "create", "-f", plain])
        #expect(ok.status == 0, "\(ok.stderr)")
        _ = try? Run.program(kubectl, ["--kubeconfig", alice, "delete", "pod", "-n", "rig-test", "raw-cpu", "--wait=false"])
    }
}
}
