import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The control plane through its HTTP API on loopback, with a real `tarmac up` (SQLite in WAL mode, synchronous=FULL):
/// durable submissions per second for N concurrent clients, and submit-to-running latency with the local backend.
func apiBenchmark(_ args: [String]) async {
    func value(_ name: String) -> String? { args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
    let tarmac = tarmacBinary(args)
    let clients = (value("--clients") ?? "1,4,16,64").split(separator: ",").compactMap { Int($0) }
    let submits = Int(value("--submits") ?? "2000") ?? 2000
    let latencyRuns = Int(value("--latency") ?? "100") ?? 100
    do {
        // --queued 0,100000: each client count on an empty server and on one with that many queued first.
        let queuedBefore = (value("--queued") ?? "0").split(separator: ",").compactMap { Int($0) }
        print("Durable submissions through POST /v1/workloads: GPU-sized jobs that stay queued behind one that holds the")
        print("machine's only (declared) GPU, so no process starts; each round on a fresh server (binary: \(tarmac));")
        print("store: SQLite WAL, synchronous=FULL; \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("clients    queued before   submits   seconds   submits/s   p50 ms   p99 ms")
        for n in clients {
          for queuedFirst in queuedBefore {
            let server = try await BenchServer.start(tarmac)
            defer { server.stop() }
            if queuedFirst > 0 { try await fill(server, queuedFirst) }
            let m = try await measure(n, submits) { c, i in
                let doc = workload(name: "bench-\(c)-\(i)", size: "small", script: "print(1)")
                let r = try await send(.POST, server.base + "/v1/workloads", token: server.token, body: doc, headers: [("Idempotency-Key", "b-\(c)-\(i)")])
                guard r.0 == 201 else { throw BenchFailure("submit answered \(r.0): \(String(decoding: r.1, as: UTF8.self))") }
            }
            print(String(format: "%7d   %14d   %7d   %7.2f   %9.0f   %6.1f   %6.1f", n, queuedFirst, m.count, m.seconds, m.rate, m.p50, m.p99))
          }
        }
        guard latencyRuns > 0 else { return }
        let server = try await BenchServer.start(tarmac)
        defer { server.stop() }
        let base = server.base, token = server.token
        print("")
        print("Submit -> running with the local backend (\(latencyRuns) CPU jobs, one at a time; server timestamps)")
        var toStart: [Double] = [], toOutput: [Double] = []
        for i in 0..<latencyRuns {
            let doc = workload(name: "lat-\(i)", size: "cpu-small", script: "import time\nprint(repr(time.time()), flush=True)")
            let t0 = Date()
            let r = try await send(.POST, base + "/v1/workloads", token: token, body: doc)
            guard r.0 == 201, let id = (try JSONSerialization.jsonObject(with: r.1) as? [String: Any])?["id"] as? String else { throw BenchFailure("submit failed: \(r.0)") }
            var w: [String: Any] = [:]
            for _ in 0..<600 {
                let g = try await send(.GET, base + "/v1/workloads/\(id)", token: token, body: nil)
                w = (try JSONSerialization.jsonObject(with: g.1) as? [String: Any]) ?? [:]
                if ["succeeded", "failed"].contains(w["state"] as? String ?? "") { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            guard w["state"] as? String == "succeeded" else { throw BenchFailure("job \(id) ended \(w["state"] ?? "?"): \(w["message"] ?? "")") }
            let logs = try await send(.GET, base + "/v1/workloads/\(id)/logs", token: token, body: nil)
            if let first = Double(String(decoding: logs.1, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
                toOutput.append((first - t0.timeIntervalSince1970) * 1000)
            }
            let ev = try await send(.GET, base + "/v1/audit?limit=100000", token: token, body: nil)
            if let items = (try JSONSerialization.jsonObject(with: ev.1) as? [String: Any])?["items"] as? [[String: Any]] {
                let mine = items.filter { $0["object"] as? String == "workload/\(id)" }
                let fmt = ISO8601DateFormatter()
                fmt.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                func at(_ action: String) -> Date? {
                    (mine.first { $0["action"] as? String == action }?["time"] as? String).flatMap { fmt.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) }
                }
                if let s = at("submit"), let run = at("run") { toStart.append(run.timeIntervalSince(s) * 1000) }
            }
        }
        let a = toStart.sorted(), b = toOutput.sorted()
        print("                                          p50 ms   p99 ms   max ms")
        print(String(format: "accepted submit -> supervisor started     %6.1f   %6.1f   %6.1f   (audit timestamps, ms resolution)", percentile(a, 0.5), percentile(a, 0.99), a.last ?? 0))
        print(String(format: "client sends submit -> pod's first line  %6.1f   %6.1f   %6.1f   (includes python3 start-up)", percentile(b, 0.5), percentile(b, 0.99), b.last ?? 0))
    } catch {
        print("api benchmark failed: \(error)")
        exit(1)
    }
}

/// A `tarmac up` of its own for one round: the example platform on a machine said to have one L4 (its `local`
/// section), with a first job holding that GPU so that GPU jobs are accepted and wait.
struct BenchServer: @unchecked Sendable {
    let process: Process
    let dir: TemporaryDirectory
    let base: String
    let token: String

    /// A fresh `tarmac up` (`extra`: more arguments, `--store URL` say) with the GPU holder queued first.
    static func start(_ tarmac: String, extra: [String] = []) async throws -> BenchServer {
        let dir = try TemporaryDirectory(prefix: "tarmac-bench")
        let platformDir = dir.url.appendingPathComponent("platform")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Fixtures.examplePlatform).deletingLastPathComponent(), to: platformDir)
        let platformFile = platformDir.appendingPathComponent("platform.yaml")
        try (try String(contentsOf: platformFile, encoding: .utf8) + "  local: {cpu: 64, memory: 256Gi, gpus: 1, accelerator: l4}\n")
            .write(to: platformFile, atomically: true, encoding: .utf8)
        let (server, base, token) = try await launch(tarmac, dir: dir, platform: platformFile.path, extra: extra)
        let holder = try await send(.POST, base + "/v1/workloads", token: token, body: workload(name: "holder", size: "small", script: "import time\ntime.sleep(100000)"))
        guard holder.0 == 201 else { throw BenchFailure("the GPU holder was not accepted: \(String(decoding: holder.1, as: UTF8.self))") }
        return BenchServer(process: server, dir: dir, base: base, token: token)
    }

    /// Starts `tarmac up` on a free loopback port with its data and credentials in `dir`; returns once /readyz answers.
    static func launch(_ tarmac: String, dir: TemporaryDirectory, platform: String, extra: [String] = []) async throws -> (Process, String, String) {
        let port = 20000 + Int.random(in: 0..<20000)
        let creds = dir.path + "/credentials.json"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: tarmac)
        server.arguments = ["up", "--data", dir.path + "/data", "--port", String(port), "--platform", platform,
                            "--rate-limit", "0", "--log-level", "warning"] + extra
        var env = ProcessInfo.processInfo.environment
        env["TARMAC_CREDENTIALS"] = creds
        server.environment = env
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        let base = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<600 where !ready {
            if let r = try? await send(.GET, base + "/readyz", token: nil, body: nil), r.0 == 200 { ready = true } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        // The context `tarmac up` saved (or, from versions before contexts, the file's one token).
        let file = FileManager.default.contents(atPath: creds).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let contexts = file?["contexts"] as? [String: [String: Any]]
        guard ready, let token = contexts?["127.0.0.1:\(port)"]?["token"] as? String ?? file?["token"] as? String else {
            kill(server.processIdentifier, SIGKILL)
            throw BenchFailure("the server did not start")
        }
        return (server, base, token)
    }

    /// Cancels the holder (its pod would outlive the server otherwise) and stops the server.
    func stop() {
        let done = DispatchSemaphore(value: 0)
        let base = self.base, token = self.token
        Task.detached {
            _ = try? await send(.POST, base + "/v1/workloads/holder/cancel", token: token, body: nil)
            try? await Task.sleep(for: .seconds(3))
            done.signal()
        }
        done.wait()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

/// Queues `count` GPU jobs before a round (32 clients), to measure submits into a long queue.
func fill(_ server: BenchServer, _ count: Int) async throws {
    let clients = 32
    try await withThrowingTaskGroup(of: Void.self) { group in
        for c in 0..<clients {
            group.addTask {
                for i in stride(from: c, to: count, by: clients) {
                    let r = try await send(.POST, server.base + "/v1/workloads", token: server.token, body: workload(name: "fill-\(i)", size: "small", script: "print(1)"))
                    guard r.0 == 201 else { throw BenchFailure("fill answered \(r.0)") }
                }
            }
        }
        try await group.waitForAll()
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func workload(name: String, size: String, script: String) -> String {
    let s = String(decoding: try! JSONSerialization.data(withJSONObject: script, options: [.fragmentsAllowed]), as: UTF8.self)
    return """
    apiVersion: tarmac.dev/v1alpha1
    kind: TrainingJob
    metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
    spec:
      size: \(size)
      workers: 1
      image: docker.io/library/python:3.12-slim
      command: [python3, -c, \(s)]
      maxDuration: 10m

    """
}

func send(_ method: HTTPMethod, _ url: String, token: String?, body: String?, headers: [(String, String)] = [], timeout: TimeAmount = .seconds(60)) async throws -> (Int, Data) {
    var req = HTTPClientRequest(url: url)
    req.method = method
    if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
    for (k, v) in headers { req.headers.add(name: k, value: v) }
    if let body { req.body = .bytes(ByteBuffer(string: body)) }
    let resp = try await HTTPClient.shared.execute(req, timeout: timeout)
    let b = try await resp.body.collect(upTo: 64 << 20)
    return (Int(resp.status.code), Data(b.readableBytesView))
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

private func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}
