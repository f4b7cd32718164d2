import Foundation
import Logging
import TarmacKubernetes
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Durable submissions, Tarmac against a real kube-apiserver with etcd, with one client program for both: N tasks, each
/// sending its next request when the last was answered. Tarmac: GPU jobs that stay queued (POST /v1/workloads on a fresh
/// release `tarmac up`); Kubernetes: suspended Jobs (POST .../jobs, through the same client library as Tarmac's
/// Kubernetes backend). Each round: the same number of submits per side, side by side in one run; the ratio.
func sideBySideBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let connections = (option("--connections", args) ?? "8,32").split(separator: ",").compactMap { Int($0) }
    let submits = Int(option("--submits", args) ?? "") ?? 4000
    guard let kubeconfig = option("--kubeconfig", args) else {
        print("sidebyside needs --kubeconfig FILE: a real kube-apiserver with etcd (Tests/Support/kube-rig start prints one)")
        exit(64)
    }
    do {
        let access = try KubeConfig.load(path: kubeconfig, context: option("--context", args))
        let kube = try KubeClient(access, logger: Logger(label: "bench"))
        let version = (try? await kube.get("/version"))?["gitVersion"] as? String ?? "?"
        print("Durable submissions side by side, one client program (N tasks, one request in flight each), \(submits) per round:")
        print("Tarmac: release tarmac up (\(tarmac)), SQLite WAL synchronous=FULL, GPU jobs that stay queued, fresh server per round;")
        print("Kubernetes: kube-apiserver \(version) at \(access.server) with its etcd (fsync), suspended Jobs in a fresh namespace per round.")
        print("connections   Tarmac submits/s   p99 ms   kube-apiserver creates/s   p99 ms   ratio")
        for n in connections {
            // Tarmac first, on a fresh server.
            let server = try await BenchServer.start(tarmac)
            let t = try await measure(n, submits) { c, i in
                let r = try await send(.POST, server.base + "/v1/workloads", token: server.token, body: workload(name: "bench-\(c)-\(i)", size: "small", script: "print(1)"))
                guard r.0 == 201 else { throw BenchFailure("submit answered \(r.0): \(String(decoding: r.1, as: UTF8.self))") }
            }
            server.stop()
            // Then Kubernetes, in a fresh namespace; it is deleted (and the deletion waited for) before the next round,
            // so that neither side runs beside the other's clean-up.
            let ns = "tarmac-bench-\(Int.random(in: 0..<1_000_000))"
            _ = try await kube.create("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": ns]])
            let k = try await measure(n, submits) { c, i in
                let job: [String: Any] = [
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": ["name": "bench-\(c)-\(i)", "labels": ["tarmac.dev/bench": "yes"]],
                    "spec": ["suspend": true, "backoffLimit": 0, "template": ["spec": [
                        "restartPolicy": "Never",
                        "containers": [["name": "main", "image": "docker.io/library/python:3.12-slim", "command": ["python3", "-c", "print(1)"],
                                        "resources": ["requests": ["cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"],
                                                      "limits": ["memory": "32Gi", "nvidia.com/gpu": "1"]]]],
                    ]]],
                ]
                _ = try await kube.create("/apis/batch/v1/namespaces/\(ns)/jobs", job)
            }
            print(String(format: "%11d   %16.0f   %6.1f   %24.0f   %6.1f   %4.2fx", n, t.rate, t.p99, k.rate, k.p99, t.rate / k.rate))
            try? await kube.delete("/api/v1/namespaces/\(ns)")
            for _ in 0..<600 {
                guard (try? await kube.get("/api/v1/namespaces/\(ns)")) != nil else { break }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    } catch {
        print("sidebyside failed: \(error)")
        exit(1)
    }
}

/// `n` tasks, each sending `total / n` requests one after another: how many, in how long, requests per second, and
/// p50/p99 latency (ms).
func measure(_ n: Int, _ total: Int, _ one: @escaping @Sendable (Int, Int) async throws -> Void) async throws
    -> (count: Int, seconds: Double, rate: Double, p50: Double, p99: Double) {
    let per = max(1, total / n)
    let clock = ContinuousClock()
    let start = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for c in 0..<n {
            group.addTask {
                var out: [Double] = []
                for i in 0..<per {
                    let t0 = clock.now
                    try await one(c, i)
                    let d = (clock.now - t0).components
                    out.append(Double(d.seconds) * 1000 + Double(d.attoseconds) / 1e15)
                }
                return out
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all.sorted()
    }
    let d = (clock.now - start).components
    let elapsed = Double(d.seconds) + Double(d.attoseconds) / 1e18
    func pct(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int((Double(latencies.count - 1) * p).rounded()))] }
    return (latencies.count, elapsed, Double(latencies.count) / elapsed, pct(0.5), pct(0.99))
}
