import TarmacCore
import Foundation
import Logging
import TarmacContract
import TarmacFakeCluster
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// reconcile: the control plane with the Kubernetes backend takes N batch workloads from submission to admitted and
/// unsuspended (the Job released, its pods pinned). Reports the time and the API requests per workload, labelled with
/// what it ran against: a real cluster (--kubeconfig) or the in-process in-memory API server.
func reconcileBenchmark(_ args: [String]) async {
    let n = Int(option("--workloads", args) ?? "1000") ?? 1000
    let nodes = Int(option("--nodes", args) ?? "64") ?? 64
    let platformPath = option("--platform", args) ?? Fixtures.path("Benchmarks/platform/reconcile.yaml")
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = .error
        return h
    }
    guard let contract = ContractLoader.load(platformPath).contract else {
        print("the platform \(platformPath) does not load; run tarmac validate on it")
        exit(1)
    }
    do {
        let access: ClusterAccess
        let label: String
        var fake: InMemoryAPIServer?
        var server: Task<Void, any Error>?
        if let kubeconfig = option("--kubeconfig", args) {
            access = try KubeConfig.load(path: kubeconfig, context: option("--context", args))
            label = "a real cluster at \(access.server)"
        } else {
            let f = InMemoryAPIServer()
            let (url, task) = try await f.start()
            for i in 0..<nodes {
                f.put("/api/v1/nodes/cpu-\(i)", ["apiVersion": "v1", "kind": "Node",
                                                "metadata": ["name": "cpu-\(i)", "labels": ["tarmac.dev/pool": "cpu"]],
                                                "status": ["allocatable": ["cpu": "64", "memory": "256Gi"], "conditions": [["type": "Ready", "status": "True"]]]])
            }
            access = ClusterAccess(server: url, source: "in-memory")
            label = "the in-process in-memory API server (it stores objects only: no etcd, admission, scheduler or controllers), \(nodes) nodes"
            fake = f
            server = task
        }
        let dir = try TemporaryDirectory(prefix: "tarmac-bench-reconcile")
        let client = try KubeClient(access)
        if args.contains("--baseline") {
            guard fake == nil else {
                print("--baseline needs a real cluster (--kubeconfig): it measures its Job controller and scheduler")
                exit(2)
            }
            try await jobControllerBaseline(client, n: n)
            return
        }
        let backend = KubernetesBackend(client: client, contract: contract, options: KubernetesBackendOptions(logDirectory: dir.path + "/logs"))
        let t0 = now()
        try await backend.start()
        let startRequests = client.requests
        let tStart = now() - t0
        let platformObjects = await backend.platformOutcomes.count
        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let cp = ControlPlane(contract: contract, store: store, backend: backend)
        try await cp.start()
        let loop = Task { await cp.run() }
        let admin = Principal(tokenID: "bench", name: "bench", role: .admin, team: nil)
        let t1 = now()
        // Submitted by 16 clients at once (--submitters N), as users do: each submit stores the workload (and, on one cluster,
        // creates its held objects).
        let ids = try await submitBenchJobs(cp, n: n, prefix: "r", submitters: Int(option("--submitters", args) ?? "16") ?? 16)
        let tSubmitted = now() - t1
        let afterSubmit = client.requests
        // Released: admitted, the controller unsuspended (pods then get pinned); running: every pod bound and running,
        // which needs a scheduler and kubelets (a real cluster), so only then is it waited for.
        func count(_ states: [WorkloadState]) async -> Int {
            var c = 0
            for id in ids where states.contains(await cp.current(id)?.state ?? .queued) { c += 1 }
            return c
        }
        // (TEST_OUTCOME=run keeps the pods running on the test control plane, whose node agent reads it; a real
        // cluster's busybox ignores it and sleeps.)
        while await count([.admitted, .running, .succeeded]) < n {
            if now() - t1 > 600 {
                print("timed out: \(await count([.admitted, .running, .succeeded])) of \(n) admitted after 600 s")
                exit(1)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let tAll = now() - t1
        let total = client.requests - startRequests
        var tRunning: Double?
        var totalRunning = 0
        if fake == nil {
            while await count([.running, .succeeded]) < n {
                if now() - t1 > 900 {
                    print("timed out: \(await count([.running, .succeeded])) of \(n) running after 900 s")
                    exit(1)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            tRunning = now() - t1
            totalRunning = client.requests - startRequests
        }
        print("Reconcile \(n) batch workloads with the Kubernetes backend, against \(label)")
        print("phase                                   seconds   API requests   per workload")
        print(String(format: "start: platform applied, lists synced   %7.2f   %12d   (%d platform objects)", tStart, startRequests, platformObjects))
        print(String(format: "submit: stored + held objects created   %7.2f   %12d   %12.2f", tSubmitted, afterSubmit - startRequests, Double(afterSubmit - startRequests) / Double(n)))
        print(String(format: "first submit -> all admitted+released   %7.2f   %12d   %12.2f", tAll, total, Double(total) / Double(n)))
        if let tRunning {
            print(String(format: "first submit -> all pods running        %7.2f   %12d   %12.2f", tRunning, totalRunning, Double(totalRunning) / Double(n)))
        } else {
            print("first submit -> all pods running        (not measured: nothing runs pods on the in-memory server)")
        }
        print(String(format: "throughput: %.0f workloads/s from first submit to all released", Double(n) / tAll))
        if let fake { print("requests seen by the server, by verb: \(fake.requestsByVerb.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) (WATCH: watch connections)") }
        // Leave a real cluster as it was.
        if fake == nil { for id in ids { _ = try? await cp.cancel(id, by: admin) } }
        loop.cancel()
        await backend.shutdown()
        server?.cancel()
        print(String(format: "peak memory (max RSS): %.1f MiB", peakRSSMiB()))
    } catch {
        print("reconcile benchmark failed: \(error)")
        exit(1)
    }
}

/// The same N one-pod Jobs created straight in the cluster (16 requests at a time, unsuspended, no Tarmac): the time the
/// Job controller, the scheduler and the kubelets alone take to run them all, the figure Tarmac's is compared with.
func jobControllerBaseline(_ client: KubeClient, n: Int) async throws {
    let ns = "tarmac-bench-baseline"
    _ = try? await client.create("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": ns]])
    let run = UInt32.random(in: 0...UInt32.max)
    let t0 = now()
    try await withThrowingTaskGroup(of: Void.self) { g in
        var next = 0
        func add() {
            let i = next
            next += 1
            g.addTask {
                let job: [String: Any] = [
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": ["name": "b\(run)-\(i)", "labels": ["bench": "baseline"]],
                    "spec": ["backoffLimit": 0, "template": ["metadata": ["labels": ["bench": "baseline"]], "spec": [
                        "restartPolicy": "Never", "nodeSelector": ["tarmac.dev/pool": "cpu"],
                        "containers": [["name": "main", "image": "docker.io/library/busybox:1.36", "command": ["sh", "-c", "sleep 600"],
                                        "env": [["name": "TEST_OUTCOME", "value": "run"]],
                                        "resources": ["requests": ["cpu": "1", "memory": "1Gi"], "limits": ["cpu": "1", "memory": "1Gi"]]]],
                    ]]],
                ]
                _ = try await client.create("/apis/batch/v1/namespaces/\(ns)/jobs", job)
            }
        }
        while next < min(16, n) { add() }
        for try await _ in g where next < n { add() }
    }
    let tCreated = now() - t0
    var running = 0
    while true {
        let (pods, _) = try await client.list("/api/v1/namespaces/\(ns)/pods?labelSelector=bench%3Dbaseline")
        running = pods.filter { ($0["status"] as? [String: Any])?["phase"] as? String == "Running" }.count
        if running >= n { break }
        if now() - t0 > 900 {
            print("timed out: \(running) of \(n) baseline pods running after 900 s")
            break
        }
        try await Task.sleep(for: .milliseconds(200))
    }
    let tRunning = now() - t0
    print("Baseline: \(n) one-pod Jobs created straight in the cluster (16 at a time), the Job controller and scheduler alone")
    print(String(format: "all Jobs created                        %7.2f s", tCreated))
    print(String(format: "first create -> all pods running        %7.2f s (%d running)", tRunning, running))
    try? await client.delete("/api/v1/namespaces/\(ns)")
}
