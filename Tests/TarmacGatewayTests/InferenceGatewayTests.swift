import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TarmacCore
import TarmacDelivery
import TarmacGateway
import TarmacTesting
import Testing

/// The inference gateway on a real socket in front of real model-server processes (Tests/Support/model_server.py, an
/// OpenAI-compatible stub): shares by weight, sticky sessions, streamed answers passed on as they come, usage read,
/// failures measured, a dead replica left for a live one, load shed over the queue limit, callers checked.
@Suite(.serialized) struct InferenceGatewayTests {
    /// A model-server stub on a port of its own choosing.
    final class Stub: @unchecked Sendable {
        let process = Process()
        let port: Int
        init(version: String, env: [String: String] = [:]) throws {
            let python = Run.which("python3") ?? "/usr/bin/python3"
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [Fixtures.path("Tests/Support/model_server.py")]
            var e = ProcessInfo.processInfo.environment
            e["PORT"] = "0"
            e["MODEL_NAME"] = "ranker"
            e["MODEL_VERSION"] = version
            for (k, v) in env { e[k] = v }
            process.environment = e
            let out = Pipe()
            process.standardOutput = out
            // Not the test's stderr: a stub left running would keep `swift test` waiting for it to close.
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Its first line says where it listens.
            var line = Data()
            while !line.contains(0x0A) {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty { throw TestFailure("the model-server stub ended before it listened") }
                line.append(d)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let p = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                throw TestFailure("cannot read the stub's port from '\(text)'")
            }
            port = p
        }
        var replica: InferenceRoute.Replica { InferenceRoute.Replica(host: "127.0.0.1", port: port) }
        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct Gateway {
        let gateway: InferenceGateway
        let channel: any Channel
        var url: String { "http://127.0.0.1:\(channel.localAddress!.port!)" }
    }

    static let member = Principal(tokenID: "t-1", name: "alice", role: .member, team: "search")
    static let outsider = Principal(tokenID: "t-2", name: "oscar", role: .member, team: "ads")

    static func start(_ routes: [InferenceRoute], coldStart: InferenceGateway.ColdStart? = nil) async throws -> Gateway {
        let table = InferenceRoutes()
        table.replace(routes)
        var g = InferenceGateway(routes: table, authenticate: { token in
            switch token {
            case "tmc_member": member
            case "tmc_outsider": outsider
            default: nil
            }
        }, logger: Logger(label: "test"))
        g.coldStart = coldStart
        let channel = try await GatewayServer(gateway: g, host: "127.0.0.1", port: 0).bind()
        return Gateway(gateway: g, channel: channel)
    }

    static func call(_ g: Gateway, _ path: String, token: String? = "tmc_member", body: String = #"{"prompt": "rank these three"}"#,
                     headers: [(String, String)] = []) async throws -> (status: Int, version: String?, body: String, headers: HTTPHeaders) {
        var req = HTTPClientRequest(url: g.url + path)
        req.method = .POST
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        req.headers.add(name: "Content-Type", value: "application/json")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        req.body = .bytes(ByteBuffer(string: body))
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let b = try await r.body.collect(upTo: 1 << 20)
        return (Int(r.status.code), r.headers.first(name: "X-Tarmac-Model-Version"), String(buffer: b), r.headers)
    }

    static func route(_ versions: [(String, Int, [InferenceRoute.Replica])], sticky: String? = nil, queueLimit: Int = 256) -> InferenceRoute {
        InferenceRoute(team: "search", service: "ranker", versions: versions.map { .init(model: "ranker", version: $0.0, weight: $0.1, replicas: $0.2) },
                       stickyHeader: sticky, queueLimit: queueLimit)
    }

    @Test func aCanaryAtTenPercentGetsItsShareAndEveryAnswerIsMeasured() async throws {
        let v1 = try Stub(version: "1.0.0"), v2 = try Stub(version: "2.0.0")
        let g = try await Self.start([Self.route([("1.0.0", 90, [v1.replica]), ("2.0.0", 10, [v2.replica])])])
        var counts: [String: Int] = [:]
        for _ in 0..<2000 {
            let r = try await Self.call(g, "/search/ranker/v1/completions")
            #expect(r.status == 200)
            counts[r.version ?? "none", default: 0] += 1
            // The answer is the version's own: the header and the body agree.
            if let v = r.version { #expect(r.body.contains("from \(v.dropFirst("ranker@".count))")) }
        }
        let canary = counts["ranker@2.0.0"] ?? 0
        #expect((140...260).contains(canary), "10% ± 3% of 2000 on the canary, got \(counts)")
        #expect(counts.values.reduce(0, +) == 2000)
        // The gateway's own samples count the same requests.
        #expect(g.gateway.stats.total(service: "search/ranker", version: "2.0.0") == canary)
        let m = g.gateway.stats.measure(service: "search/ranker", version: "1.0.0", lastSeconds: 600)
        #expect(m.requests == 2000 - canary && m.successRate == 1 && m.p99LatencyMs > 0)
        try await g.channel.close()
    }

    @Test func stickySessionsKeepToOneVersionAndStreamsPassThroughMeasured() async throws {
        let v1 = try Stub(version: "1.0.0"), v2 = try Stub(version: "2.0.0", env: ["STUB_TOKEN_DELAY_MS": "30"])
        let g = try await Self.start([Self.route([("1.0.0", 50, [v1.replica]), ("2.0.0", 50, [v2.replica])], sticky: "X-Session")])
        var seen: [String: Set<String>] = [:]
        for session in 0..<20 {
            for _ in 0..<5 {
                let r = try await Self.call(g, "/search/ranker/v1/completions", headers: [("X-Session", "user-\(session)")])
                seen["user-\(session)", default: []].insert(r.version ?? "none")
            }
        }
        #expect(seen.values.allSatisfy { $0.count == 1 }, "a session moved between versions: \(seen)")
        let versions = Set(seen.values.flatMap { $0 })
        #expect(versions == ["ranker@1.0.0", "ranker@2.0.0"], "20 sessions at 50/50 all on one version: \(versions)")
        // A streamed answer: passed on as server-sent events; time to first token measured.
        let session = try #require(seen.first { $0.value == ["ranker@2.0.0"] }?.key)
        let r = try await Self.call(g, "/search/ranker/v1/completions", body: #"{"prompt": "a b", "stream": true}"#, headers: [("X-Session", session)])
        #expect(r.status == 200 && r.headers.first(name: "Content-Type") == "text/event-stream")
        #expect(r.body.contains("data: [DONE]") && r.body.contains(#""completion_tokens": 3"#), "\(r.body)")
        let m = g.gateway.stats.measure(service: "search/ranker", version: "2.0.0", lastSeconds: 600)
        let ttft = try #require(m.timeToFirstTokenMs)
        #expect(ttft > 0 && ttft < m.p99LatencyMs + 1, "ttft \(ttft) ms, p99 \(m.p99LatencyMs) ms")
        try await g.channel.close()
    }

    @Test func failuresAreMeasuredADeadReplicaIsLeftAndCallersAreChecked() async throws {
        let v1 = try Stub(version: "1.0.0"), bad = try Stub(version: "2.0.0", env: ["STUB_FAIL": "1"])
        // A port nothing listens on (a replica that died), beside a live one.
        let dead = InferenceRoute.Replica(host: "127.0.0.1", port: 1)
        let g = try await Self.start([Self.route([("1.0.0", 50, [dead, v1.replica]), ("2.0.0", 50, [bad.replica])]),
                                      InferenceRoute(team: "search", service: "empty", versions: [.init(model: "e", version: "1", weight: 100, replicas: [])]),
                                      InferenceRoute(team: "search", service: "gone", versions: [.init(model: "g", version: "1", weight: 100, replicas: [dead])])])
        var statuses: [Int: Int] = [:]
        for _ in 0..<40 { statuses[try await Self.call(g, "/search/ranker/v1/completions").status, default: 0] += 1 }
        #expect(statuses == [200: 20, 500: 20], "the dead replica's requests went to the live one; the failing version's 500s passed on: \(statuses)")
        let m = g.gateway.stats.measure(service: "search/ranker", version: "2.0.0", lastSeconds: 600)
        #expect(m.requests == 20 && m.successRate == 0)
        // Told apart: the failing version's 500s are the model's side; the dead replica's requests, retried on the
        // live one, failed nobody.
        #expect(m.modelErrors == 20 && m.infrastructureErrors == 0)
        #expect(m.failures(of: [AnalysisRule(.successRate, 0.99)]) == ["success rate 0 below 0.99 over 20 requests (model-side: 20, infrastructure-side: 0)"])
        #expect(g.gateway.stats.faults(service: "search/ranker") == [.modelError: 20])
        #expect(try await Self.call(g, "/search/ranker/v1/completions", token: nil).status == 401)
        #expect(try await Self.call(g, "/search/ranker/v1/completions", token: "tmc_wrong").status == 401)
        #expect(try await Self.call(g, "/search/ranker/v1/completions", token: "tmc_outsider").status == 404)
        #expect(try await Self.call(g, "/search/nothing/v1/completions").status == 404)
        let empty = try await Self.call(g, "/search/empty/v1/completions")
        #expect(empty.status == 503 && empty.headers.first(name: "Retry-After") == "2", "\(empty.body)")
        #expect(g.gateway.stats.faults(service: "search/empty") == [.noReplica: 1])
        // A version whose only replica is gone: 502, the infrastructure's side.
        let gone = try await Self.call(g, "/search/gone/v1/completions")
        #expect(gone.status == 502, "\(gone.body)")
        #expect(g.gateway.stats.faults(service: "search/gone") == [.unreachable: 1])
        let goneM = g.gateway.stats.measure(service: "search/gone", version: "1", lastSeconds: 600)
        #expect(goneM.infrastructureErrors == 1 && goneM.modelErrors == 0)
        try await g.channel.close()
    }

    /// A service scaled to zero: its next request wakes it (once, in the caller's name) and waits for a ready replica,
    /// even when the routes still name its old, dead replica; one that is not starting from zero is answered at once;
    /// one that does not come up in time gets 503 with Retry-After.
    @Test func aServiceStartingFromZeroIsWaitedFor() async throws {
        let live = try Stub(version: "1.0.0")
        let dead = InferenceRoute.Replica(host: "127.0.0.1", port: 1), up = live.replica
        let woken = Mutex<[String]>([])
        let table = Mutex<InferenceRoutes?>(nil)
        // 5 s: the replica comes up in 300 ms, but a loaded machine (the whole suite in parallel) must not time it out.
        let cold = InferenceGateway.ColdStart(timeout: .seconds(5)) { team, service, caller in
            woken.withLock { $0.append("\(team)/\(service) by \(caller)") }
            guard service != "nothing" else { return false }
            if service == "cold", let routes = table.withLock({ $0 }) {
                // It comes up 300 ms later.
                Task {
                    try? await Task.sleep(for: .milliseconds(300))
                    routes.replace([InferenceRoute(team: "search", service: "cold", versions: [.init(model: "ranker", version: "1.0.0", weight: 100, replicas: [up])])])
                }
            }
            return true
        }
        let g = try await Self.start([InferenceRoute(team: "search", service: "cold", versions: [.init(model: "ranker", version: "1.0.0", weight: 100, replicas: [dead])])],
                                     coldStart: cold)
        table.withLock { $0 = g.gateway.routes }
        // Another team's member cannot wake it: answered as if it did not exist, nothing woken.
        #expect(try await Self.call(g, "/search/cold/v1/completions", token: "tmc_outsider").status == 404)
        #expect(woken.withLock { $0 }.isEmpty)
        let began = ContinuousClock.now
        let answer = try await Self.call(g, "/search/cold/v1/completions")
        let waited = ContinuousClock.now - began
        #expect(answer.status == 200 && answer.version == "ranker@1.0.0" && waited >= .milliseconds(300), "\(answer.status) \(answer.body) after \(waited)")
        #expect(woken.withLock { $0 } == ["search/cold by alice"])
        let nothing = try await Self.call(g, "/search/nothing/v1/completions")
        #expect(nothing.status == 404, "not starting from zero: answered as before")
        let slow = try await Self.call(g, "/search/slow/v1/completions")
        #expect(slow.status == 503 && slow.headers.first(name: "Retry-After") == "10" && slow.body.contains("starting from zero"), "\(slow.status) \(slow.body)")
        try await g.channel.close()
    }

    @Test func overItsQueueLimitAServiceShedsLoadWith429() async throws {
        let slow = try Stub(version: "1.0.0", env: ["STUB_DELAY_MS": "500"])
        let g = try await Self.start([Self.route([("1.0.0", 100, [slow.replica])], queueLimit: 2)])
        let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<6 { group.addTask { let r = try await Self.call(g, "/search/ranker/v1/completions"); return (r.status, r.headers.first(name: "Retry-After")) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let shed = results.filter { $0.0 == 429 }
        #expect(results.filter { $0.0 == 200 }.count >= 2 && !shed.isEmpty, "\(results)")
        #expect(shed.allSatisfy { $0.1 == "1" })
        #expect(g.gateway.stats.faults(service: "search/ranker") == [.overloaded: shed.count])
        #expect(g.gateway.routes.inFlight("search/ranker") == 0, "every request counted in flight ended")
        try await g.channel.close()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The Prometheus source's pure parts: queries filled in from the service, version and window; the one value of an
/// instant query's answer (none for an empty vector, NaN or an error).
@Suite struct PrometheusSourceTests {
    @Test func queriesAreFilledInAndAnswersRead() {
        let s = PrometheusSource(url: "http://prom:9090/", queries: ["requests": #"sum(increase(x{ns="$namespace",svc="$service",v="$version",t="$team"}[$window]))"#])
        #expect(s.url == "http://prom:9090")
        #expect(s.query("requests", service: "search/ranker", version: "1.1.0", window: 60) == #"sum(increase(x{ns="search-",svc="ranker",v="1.1.0",t="search"}[60s]))"#)
        #expect(s.query("errors", service: "search/ranker", version: "1.1.0", window: 5).contains(#"code=~"5..""#), "unset queries read Tarmac's metrics")
        func answer(_ json: String) -> Double? { PrometheusSource.single(Data(json.utf8)) }
        #expect(answer(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"12.5"]}]}}"#) == 12.5)
        #expect(answer(#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}"#) == 3)
        #expect(answer(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#) == nil)
        #expect(answer(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#) == nil)
        #expect(answer(#"{"status":"error","errorType":"bad_data","error":"parse error"}"#) == nil)
    }
}
