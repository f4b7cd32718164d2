import Foundation
import Logging
import TarmacKubernetes
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// Durable submissions, Tarmac on each of its stores against a real kube-apiserver with etcd, with one client program for
/// all: N tasks, each sending its next request when the last was answered. Tarmac: GPU jobs that stay queued (POST
/// /v1/workloads on a fresh release `tarmac up`), its state in SQLite (WAL, synchronous=FULL) and in PostgreSQL (fsync
/// and synchronous_commit on; a fresh database per round); Kubernetes: suspended Jobs (POST .../jobs, through the same
/// client library as Tarmac's Kubernetes backend). Each round: the same number of submits per side, side by side in one
/// run; the ratios. Without --kubeconfig the Kubernetes column is left out; without --postgres a throwaway PostgreSQL
/// server is started (Tests/Support/postgres-rig), else that column is left out too, saying why.
func sideBySideBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let connections = (option("--connections", args) ?? "8,32").split(separator: ",").compactMap { Int($0) }
    let submits = Int(option("--submits", args) ?? "") ?? 4000
    let kubeconfig = option("--kubeconfig", args)
    do {
        var kube: KubeClient?
        print("Durable submissions side by side, one client program (N tasks, one request in flight each), \(submits) per round:")
        print("Tarmac: release tarmac up (\(tarmac)), GPU jobs that stay queued, fresh server per round, its store in")
        print("  SQLite (WAL, synchronous=FULL) and in PostgreSQL (fsync=on, synchronous_commit=on; a fresh database per round);")
        if let kubeconfig {
            let access = try KubeConfig.load(path: kubeconfig, context: option("--context", args))
            kube = try KubeClient(access, logger: Logger(label: "bench"))
            let version = (try? await kube!.get("/version"))?["gitVersion"] as? String ?? "?"
            print("Kubernetes: kube-apiserver \(version) at \(access.server) with its etcd (fsync), suspended Jobs in a fresh namespace per round.")
        } else {
            print("Kubernetes: left out (--kubeconfig FILE: a real kube-apiserver with etcd; Tests/Support/kube-rig start prints one)")
        }
        let postgres = option("--postgres", args) ?? PostgresRig.adminURL
        if let postgres {
            print("PostgreSQL: \(postgres.replacingOccurrences(of: "postgres://", with: "").split(separator: "@").last ?? "")" + (option("--postgres", args) == nil ? " (a throwaway server: Tests/Support/postgres-rig)" : ""))
        } else {
            print("PostgreSQL: left out (\(PostgresRig.failure ?? PostgresRig.skipMessage))")
        }
        print("connections   SQLite submits/s   p99 ms   PostgreSQL submits/s   p99 ms   kube-apiserver creates/s   p99 ms   SQLite/kube   PostgreSQL/kube")
        for n in connections {
            // Tarmac first, each store on a fresh server.
            func tarmacRound(_ extra: [String]) async throws -> (rate: Double, p99: Double) {
                let server = try await BenchServer.start(tarmac, extra: extra)
                defer { server.stop() }
                let t = try await measure(n, submits) { c, i in
                    let r = try await send(.POST, server.base + "/v1/workloads", token: server.token, body: workload(name: "bench-\(c)-\(i)", size: "small", script: "print(1)"))
                    guard r.0 == 201 else { throw BenchFailure("submit answered \(r.0): \(String(decoding: r.1, as: UTF8.self))") }
                }
                return (t.rate, t.p99)
            }
            let sqlite = try await tarmacRound([])
            var pg: (rate: Double, p99: Double)?
            if let postgres {
                pg = try await tarmacRound(["--store", try PostgresRig.database("bench", on: postgres)])
            }
            // Then Kubernetes, in a fresh namespace; it is deleted (and the deletion waited for) before the next round,
            // so that neither side runs beside the other's clean-up.
            var k: (rate: Double, p99: Double)?
            if let kube {
                let ns = "tarmac-bench-\(Int.random(in: 0..<1_000_000))"
                _ = try await kube.create("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": ns]])
                let m = try await measure(n, submits) { c, i in
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
                k = (m.rate, m.p99)
                try? await kube.delete("/api/v1/namespaces/\(ns)")
                for _ in 0..<600 {
                    guard (try? await kube.get("/api/v1/namespaces/\(ns)")) != nil else { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            func cell(_ m: (rate: Double, p99: Double)?, _ width: Int) -> String {
                guard let m else { return String(repeating: " ", count: width - 1) + "-" + "        -" }
                return String(format: "%\(width)d   %6.1f", Int(m.rate.rounded()), m.p99)
            }
            func ratio(_ a: (rate: Double, p99: Double)?) -> String {
                guard let a, let k else { return "-" }
                return String(format: "%.2fx", a.rate / k.rate)
            }
            print(String(format: "%11d   ", n) + cell(sqlite, 16) + "   " + cell(pg, 20) + "   " + cell(k, 24) + "   " + ratio(sqlite).leftPadded(11) + "   " + ratio(pg).leftPadded(15))
        }
    } catch {
        print("sidebyside failed: \(error)")
        exit(1)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
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
