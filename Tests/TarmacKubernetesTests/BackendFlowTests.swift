import TarmacCore
import Foundation
import Logging
import Testing
import TarmacFakeCluster
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// The control plane driving the Kubernetes backend through a whole workload life, against the in-memory API server
/// (which only stores objects: this test plays the Job controller). It proves the backend's side of the protocol: what
/// it creates, changes and deletes, and what it makes of status. Real-cluster behaviour is RealClusterTests' job.
@Suite(.serialized) struct BackendFlowTests {
    static let admin = Principal(tokenID: "t", name: "admin", role: .admin, team: nil)

    static func node(_ name: String, pool: String, cpu: String, memory: String, gpus: Int = 0) -> [String: Any] {
        var allocatable = ["cpu": cpu, "memory": memory]
        if gpus > 0 { allocatable["nvidia.com/gpu"] = String(gpus) }
        return ["apiVersion": "v1", "kind": "Node", "metadata": ["name": name, "labels": ["tarmac.dev/pool": pool]],
                "spec": ["taints": gpus > 0 ? [["key": "nvidia.com/gpu", "effect": "NoSchedule"]] : []],
                "status": ["allocatable": allocatable, "conditions": [["type": "Ready", "status": "True"]]]]
    }

    func backend(_ url: String, _ dir: TemporaryDirectory) throws -> KubernetesBackend {
        let client = try KubeClient(ClusterAccess(server: url, source: "test"), retry: RetryPolicy(attempts: 3, base: .milliseconds(20), timeout: .seconds(10)))
        return KubernetesBackend(client: client, contract: BackendSupport.contract,
                                 options: KubernetesBackendOptions(logDirectory: dir.path + "/logs", platformResync: .seconds(3600)))
    }

    func until(_ what: String, _ cp: ControlPlane, timeout: Duration = .seconds(20), _ check: () async throws -> Bool) async throws {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            await cp.tick()
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(30))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }

    @Test func aJobIsHeldReleasedPinnedFinishedAndCleanedUp() async throws {
        let fake = InMemoryAPIServer(username: "system:serviceaccount:tarmac-system:tarmac-test")
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        fake.put("/api/v1/nodes/cpu-a", Self.node("cpu-a", pool: "cpu", cpu: "4", memory: "16Gi"))
        fake.put("/api/v1/nodes/h100-a", Self.node("h100-a", pool: "train-h100", cpu: "96", memory: "1000Gi", gpus: 8))
        let dir = try TemporaryDirectory(prefix: "tarmac-k8s-flow")
        let k = try backend(url, dir)
        try await k.start()
        defer { Task { await k.shutdown() } }

        // The platform is applied: namespaces under Pod Security `restricted`, and admission policies naming Tarmac's identity.
        let ns = try #require(fake.object("/api/v1/namespaces/search-dev"))
        #expect(((ns["metadata"] as? [String: Any])?["labels"] as? [String: String])?["pod-security.kubernetes.io/enforce"] == "restricted")
        let policy = try #require(fake.object("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/tarmac-gpu-via-tarmac"))
        #expect(String(decoding: try JSONSerialization.data(withJSONObject: policy), as: UTF8.self).contains("tarmac-system:tarmac-test"))
        let inventory = try await k.nodes()
        #expect(inventory.map(\.name) == ["cpu-a", "h100-a"])
        #expect(inventory.first { $0.name == "h100-a" }?.gpus == 8)

        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let cp = ControlPlane(contract: BackendSupport.contract, store: store, backend: k, config: ControlPlaneConfig(inventoryRefresh: .milliseconds(100)))
        try await cp.start()
        let text = try String(contentsOfFile: Fixtures.path("examples/workloads/train-cpu.yaml"), encoding: .utf8)
        let entry = try await cp.submit(text: text, requestID: nil, by: Self.admin, runsImages: true).workload
        let jobPath = "/apis/batch/v1/namespaces/search-dev/jobs/hello-train"

        // Admitted: the Job is released with the node of each pod slot; its pods come gated.
        try await until("the Job is unsuspended", cp) { (fake.object(jobPath)?["spec"] as? [String: Any])?["suspend"] as? Bool == false }
        let job = try #require(fake.object(jobPath))
        #expect(AttemptStatus.annotations(job)["tarmac.dev/placement"] == "cpu-a", "the CPU size's pool is cpu: only cpu-a may host it")
        let template = (job["spec"] as? [String: Any])?["template"] as? [String: Any]
        #expect(PodPinning.isGated(template ?? [:]))
        #expect(((template?["metadata"] as? [String: Any])?["labels"] as? [String: String])?["tarmac.dev/workload-id"] == entry.id)
        #expect(fake.object("/api/v1/namespaces/search-dev/serviceaccounts/hello-train") != nil)

        // Playing the Job controller: the pod it creates from the template, gated. Tarmac pins it to cpu-a and ungates it.
        let podPath = "/api/v1/namespaces/search-dev/pods/hello-train-0-abcde"
        func pod(_ spec: [String: Any], _ status: [String: Any]) -> [String: Any] {
            ["apiVersion": "v1", "kind": "Pod",
             "metadata": ["name": "hello-train-0-abcde", "namespace": "search-dev", "labels": ["tarmac.dev/workload-id": entry.id, "tarmac.dev/attempt": "1"],
                          "annotations": ["batch.kubernetes.io/job-completion-index": "0"]],
             "spec": ["containers": [["name": "worker", "resources": ["requests": ["cpu": "1", "memory": "1Gi"]]]]].merging(spec) { _, b in b },
             "status": status]
        }
        fake.put(podPath, pod(["schedulingGates": [["name": "tarmac.dev/placement"]]], ["phase": "Pending"]))
        try await until("the pod is pinned and ungated", cp) { fake.object(podPath).map { !PodPinning.isGated($0) && PodPinning.node(of: $0) == "cpu-a" } ?? false }
        #expect(await cp.current(entry.id)?.state == .admitted, "not running before its pod runs")
        // The scheduler binds it, the kubelet runs it: now it is running.
        var live = try #require(fake.object(podPath))
        var spec = live["spec"] as? [String: Any] ?? [:]
        spec["nodeName"] = "cpu-a"
        live["spec"] = spec
        live["status"] = ["phase": "Running"]
        fake.put(podPath, live)
        try await until("the workload runs", cp) { await cp.current(entry.id)?.state == .running }
        live["status"] = ["phase": "Succeeded", "containerStatuses": [["name": "worker", "state": ["terminated": ["exitCode": 0, "reason": "Completed"]]]]]
        fake.put(podPath, live)
        var done = job
        done["status"] = ["conditions": [["type": "Complete", "status": "True"]], "succeeded": 1]
        // A kubelet that does not serve the log: the end is recorded and the loop goes on meanwhile; the log is copied,
        // then the objects deleted, in the background.
        fake.holdLogs(true)
        fake.put(jobPath, done)
        try await until("the workload succeeded", cp) { await cp.current(entry.id)?.state == .succeeded }
        try await until("its log is asked for", cp) { fake.logRequests > 0 }
        await cp.tick()
        #expect(fake.object(jobPath) != nil, "the objects go after the log is copied")
        fake.holdLogs(false)
        // Its objects are deleted with propagation once it ended.
        try await until("its objects are gone", cp) { fake.object(jobPath) == nil && fake.object("/api/v1/namespaces/search-dev/serviceaccounts/hello-train") == nil }
        #expect(try String(contentsOfFile: dir.path + "/logs/\(entry.id)/1/0.log", encoding: .utf8) == "log of hello-train-0-abcde\n")
        let verbs = fake.requestsByVerb
        #expect((verbs["POST"] ?? 0) >= 2 && (verbs["DELETE"] ?? 0) >= 2 && (verbs["PATCH"] ?? 0) >= 1, "\(verbs)")
    }

    @Test func aRestartAdoptsLiveObjectsAndRemovesOrphans() async throws {
        let fake = InMemoryAPIServer()
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        fake.put("/api/v1/nodes/cpu-a", Self.node("cpu-a", pool: "cpu", cpu: "1", memory: "4Gi"))
        let dir = try TemporaryDirectory(prefix: "tarmac-k8s-restart")
        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let text = try String(contentsOfFile: Fixtures.path("examples/workloads/train-cpu.yaml"), encoding: .utf8)
        let jobPath = "/apis/batch/v1/namespaces/search-dev/jobs/hello-train"
        let id: String
        do {
            let k = try backend(url, dir)
            try await k.start()
            let cp = ControlPlane(contract: BackendSupport.contract, store: store, backend: k)
            try await cp.start()
            id = try await cp.submit(text: text, requestID: "r1", by: Self.admin, runsImages: true).workload.id
            try await until("admitted", cp) { await cp.current(id)?.state == .admitted }
            // Playing the Job controller, scheduler and kubelet: its pod runs on cpu-a.
            fake.put("/api/v1/namespaces/search-dev/pods/hello-train-0-xyz", [
                "apiVersion": "v1", "kind": "Pod",
                "metadata": ["name": "hello-train-0-xyz", "namespace": "search-dev", "labels": ["tarmac.dev/workload-id": id, "tarmac.dev/attempt": "1"],
                             "annotations": ["batch.kubernetes.io/job-completion-index": "0"]],
                "spec": ["nodeName": "cpu-a", "containers": [["name": "worker"]]], "status": ["phase": "Running"]])
            try await until("running", cp) { await cp.current(id)?.state == .running }
            await k.shutdown()
        }
        // While the control plane is down: a leftover of a workload the store does not know.
        fake.put("/apis/batch/v1/namespaces/search-dev/jobs/stale", ["apiVersion": "batch/v1", "kind": "Job",
                                                                       "metadata": ["labels": ["tarmac.dev/workload-id": "wl-gone"]], "spec": ["suspend": true]])
        let before = try #require(fake.object(jobPath))
        let k = try backend(url, dir)
        try await k.start()
        defer { Task { await k.shutdown() } }
        let cp = ControlPlane(contract: BackendSupport.contract, store: store, backend: k)
        try await cp.start()
        #expect(fake.object("/apis/batch/v1/namespaces/search-dev/jobs/stale") == nil, "an object of no live workload is removed")
        let after = try #require(fake.object(jobPath))
        #expect((after["metadata"] as? [String: Any])?["uid"] as? String == (before["metadata"] as? [String: Any])?["uid"] as? String,
                "the running workload's Job is adopted, not created again")
        #expect(fake.objects("batch/v1/jobs").count == 1)
        #expect(await cp.current(id)?.state == .running)
        #expect(await cp.current(id)?.attempt == 1)
    }

    @Test func replicasAnAutoscalerAsksForAreAdmittedOneByOneWithinCapacity() async throws {
        let fake = InMemoryAPIServer()
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        // One CPU: room for two replicas of inference/cpu-small (500m).
        fake.put("/api/v1/nodes/cpu-a", Self.node("cpu-a", pool: "cpu", cpu: "1", memory: "4Gi"))
        let dir = try TemporaryDirectory(prefix: "tarmac-k8s-scale")
        let k = try backend(url, dir)
        try await k.start()
        defer { Task { await k.shutdown() } }
        let cp = ControlPlane(contract: BackendSupport.contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: k,
                              config: ControlPlaneConfig(inventoryRefresh: .milliseconds(100)))
        try await cp.start()
        let doc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: echo-scale, team: platform, env: dev, owner: ops@acme.example}
            spec:
              size: cpu-small
              model: echo@1
              image: docker.io/library/python:3.12-slim
              replicas: 1..3
              port: 8080
            """
        let id = try await cp.submit(text: doc, requestID: nil, by: Self.admin, runsImages: true).workload.id
        let ns = "/api/v1/namespaces/platform-dev/pods/"
        let deployment = "/apis/apps/v1/namespaces/platform-dev/deployments/echo-scale"
        #expect(fake.object("/apis/autoscaling/v2/namespaces/platform-dev/horizontalpodautoscalers/echo-scale") != nil, "the HPA is created with the service")
        func pod(_ name: String) -> [String: Any] {
            ["apiVersion": "v1", "kind": "Pod",
             "metadata": ["name": name, "namespace": "platform-dev", "labels": ["tarmac.dev/workload-id": id, "tarmac.dev/attempt": "1"]],
             "spec": ["containers": [["name": "server"]], "schedulingGates": [["name": "tarmac.dev/placement"]]], "status": ["phase": "Pending"]]
        }
        func run(_ name: String) throws {
            var p = try #require(fake.object(ns + name))
            var spec = p["spec"] as? [String: Any] ?? [:]
            spec["nodeName"] = PodPinning.node(of: p)
            p["spec"] = spec
            p["status"] = ["phase": "Running"]
            fake.put(ns + name, p)
        }
        try await until("released", cp) { (fake.object(deployment)?["spec"] as? [String: Any])?["replicas"] as? Int == 1 }
        fake.put(ns + "echo-0", pod("echo-0"))
        try await until("pinned", cp) { fake.object(ns + "echo-0").map { !PodPinning.isGated($0) } ?? false }
        try run("echo-0")
        try await until("running", cp) { await cp.current(id)?.state == .running }

        // The autoscaler asks for 3: the engine admits one more (the node has room for two), not a third.
        var d = try #require(fake.object(deployment))
        var spec = d["spec"] as? [String: Any] ?? [:]
        spec["replicas"] = 3
        d["spec"] = spec
        fake.put(deployment, d)
        try await until("a second replica is admitted", cp) { await cp.current(id)?.podCount == 2 }
        fake.put(ns + "echo-1", pod("echo-1"))
        fake.put(ns + "echo-2", pod("echo-2"))
        try await until("one new pod is pinned", cp) { [fake] in
            ["echo-1", "echo-2"].compactMap { fake.object(ns + $0) }.filter { !PodPinning.isGated($0) }.count == 1
        }
        for _ in 0..<20 { await cp.tick() }
        #expect(await cp.current(id)?.podCount == 2, "no replica beyond the capacity")
        #expect(["echo-1", "echo-2"].compactMap { fake.object(ns + $0) }.filter(PodPinning.isGated).count == 1)
        #expect(AttemptStatus.annotations(try #require(fake.object(deployment)))["tarmac.dev/placement"] == "cpu-a,cpu-a")

        // Back to one: the Deployment removes two pods, and the slot of the one that ran is freed.
        spec["replicas"] = 1
        d["spec"] = spec
        fake.put(deployment, d)
        let pinned = try #require(["echo-1", "echo-2"].first { fake.object(ns + $0).map { !PodPinning.isGated($0) } ?? false })
        fake.remove(ns + "echo-1")
        fake.remove(ns + "echo-2")
        try await until("one replica again", cp) { await cp.current(id)?.podCount == 1 }
        let e = try #require(await cp.current(id))
        #expect(e.placements.map(\.node) == ["cpu-a"] && e.charged?.cpuMilli == 500, "\(e.placements) \(String(describing: e.charged)); freed \(pinned)")
    }

    @Test func aForeignObjectOrARefusalRejectsTheWorkloadWithTheReason() async throws {
        let fake = InMemoryAPIServer()
        let (url, server) = try await fake.start()
        defer { server.cancel() }
        fake.put("/apis/batch/v1/namespaces/search-dev/jobs/hello-train", ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["labels": ["app": "someone-elses"]]])
        let dir = try TemporaryDirectory(prefix: "tarmac-k8s-reject")
        let k = try backend(url, dir)
        let w = ActiveWorkload(id: "wl-1", plan: BackendSupport.plan("train-cpu.yaml"), attempt: 0, holdsCapacity: false)
        do {
            try await k.accept(w)
            Issue.record("accepting over an object Tarmac did not create must fail")
        } catch let r as BackendRejection {
            #expect(r.message.contains("Job search-dev/hello-train already exists and was not created by Tarmac"), "\(r.message)")
        }
        // The other Job is left alone.
        #expect((fake.object("/apis/batch/v1/namespaces/search-dev/jobs/hello-train")?["metadata"] as? [String: Any])?["labels"] as? [String: String] == ["app": "someone-elses"])
    }
}
