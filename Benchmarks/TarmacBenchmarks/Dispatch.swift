import Foundation
import Logging
import TarmacContract
import TarmacCore
import TarmacFleet
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// dispatch: one control plane over several clusters (a Fleet of Kubernetes backends) takes N batch workloads from
/// submission to admitted and released in the cluster the engine chose (objects created there, the Job unsuspended,
/// its pod pinned), then to running. Prints workloads dispatched per second, per cluster, and the API requests.
func dispatchBenchmark(_ args: [String]) async {
    let n = Int(option("--workloads", args) ?? "1000") ?? 1000
    guard let kubeconfigs = option("--kubeconfigs", args)?.split(separator: ",").map(String.init), !kubeconfigs.isEmpty else {
        print("usage: TarmacBenchmarks dispatch --kubeconfigs A,B,C [--workloads N]   (one kubeconfig per cluster; test control planes: Tests/Support/kube-rig)")
        exit(2)
    }
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = .error
        return h
    }
    do {
        let dir = try TemporaryDirectory(prefix: "tarmac-bench-dispatch")
        var text = try String(contentsOfFile: Fixtures.path("Benchmarks/platform/reconcile.yaml"), encoding: .utf8)
        text += "\n  clusterLostTimeout: 30s\n  clusters:\n" + kubeconfigs.enumerated().map { i, k in
            "    - name: c\(i)\n      kubeconfig: {path: \(URL(fileURLWithPath: k).standardizedFileURL.path)}\n"
        }.joined()
        let platform = try dir.write("platform.yaml", text)
        let loaded = ContractLoader.load(platform)
        guard let contract = loaded.contract else {
            print("the generated platform does not load: \(loaded.diagnostics)")
            exit(1)
        }
        var members: [FleetBackend.Member] = []
        var clients: [KubeClient] = []
        for c in contract.platform.clusters {
            guard case .file(let path?, let context) = c.kubeconfig else { continue }
            let client = try KubeClient(try KubeConfig.load(path: path, context: context))
            var options = KubernetesBackendOptions(logDirectory: dir.path + "/logs/" + c.name)
            options.prepareQueued = false
            let k = KubernetesBackend(client: client, contract: contract, options: options)
            try await k.start()
            members.append(.init(name: c.name, backend: k, pools: nil))
            clients.append(client)
        }
        let fleet = FleetBackend(members: members, lostTimeout: 30)
        await fleet.start()
        let nodes = try await fleet.nodes()
        let startRequests = clients.map(\.requests).reduce(0, +)
        let cp = ControlPlane(contract: contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: fleet)
        try await cp.start()
        let loop = Task { await cp.run() }
        let admin = Principal(tokenID: "bench", name: "bench", role: .admin, team: nil)
        let t0 = now()
        // Submitted by 16 clients at once (--submitters N), as users do: each submit stores the workload (and, on one cluster,
        // creates its held objects).
        let ids = try await submitBenchJobs(cp, n: n, prefix: "d", submitters: Int(option("--submitters", args) ?? "16") ?? 16)
        let tSubmitted = now() - t0
        func count(_ states: [WorkloadState]) async -> Int {
            var c = 0
            for id in ids where states.contains(await cp.current(id)?.state ?? .queued) { c += 1 }
            return c
        }
        // Dispatched: admitted, and launched in its cluster (objects created there, the Job released): the Fleet counts a
        // launch once its cluster's backend has done it.
        func dispatched() async -> Int { await fleet.clusterReports().map(\.dispatched).reduce(0, +) }
        while await dispatched() < n {
            if now() - t0 > 600 { print("timed out: \(await dispatched()) of \(n) dispatched after 600 s"); exit(1) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let tDispatched = now() - t0
        let dispatchedRequests = clients.map(\.requests).reduce(0, +) - startRequests
        while await count([.running, .succeeded]) < n {
            if now() - t0 > 900 { print("timed out: \(await count([.running, .succeeded])) of \(n) running after 900 s"); exit(1) }
            try await Task.sleep(for: .milliseconds(50))
        }
        let tRunning = now() - t0
        let runningRequests = clients.map(\.requests).reduce(0, +) - startRequests
        let reports = await fleet.clusterReports()
        print("Dispatch \(n) batch workloads over \(members.count) clusters (\(nodes.count) nodes), one control plane, a Fleet of Kubernetes backends")
        print("phase                                        seconds   API requests   per workload")
        print(String(format: "submit: stored (objects wait for placement)   %7.2f", tSubmitted))
        print(String(format: "first submit -> all dispatched (created+released) %7.2f %9d   %12.2f", tDispatched, dispatchedRequests, Double(dispatchedRequests) / Double(n)))
        print(String(format: "first submit -> all pods running              %7.2f   %12d   %12.2f", tRunning, runningRequests, Double(runningRequests) / Double(n)))
        print("per cluster: " + reports.map { "\($0.name) \($0.dispatched) dispatched, \($0.rejected.values.reduce(0, +)) refused" }.joined(separator: "; "))
        print(String(format: "throughput: %.0f workloads/s dispatched (MultiKueue's own benchmark: 1.31/s)", Double(n) / tDispatched))
        for id in ids { _ = try? await cp.cancel(id, by: admin) }
        try? await Task.sleep(for: .seconds(5))
        loop.cancel()
        await fleet.shutdown()
        for m in members { await (m.backend as? KubernetesBackend)?.shutdown() }
        print(String(format: "peak memory (max RSS): %.1f MiB", peakRSSMiB()))
    } catch {
        print("dispatch benchmark failed: \(error)")
        exit(1)
    }
}
