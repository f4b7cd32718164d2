import Foundation
import TarmacGateway
import TarmacTesting
import Testing

extension ServerTests {
/// Rollouts analysed from a real Prometheus (Debian's, started here, scraping `tarmac up`'s /metrics every second): the
/// contract names it (`metrics.prometheus`), so a canary's figures come from PromQL over its HTTP API rather than from
/// the gateway's memory. A canary told to fail is rolled back on those figures, its reason split by side.
@Suite struct PrometheusRolloutTests {
    static let prometheus = Run.which("prometheus")

    /// A Prometheus on a free loopback port scraping `target` every second, its data in `dir`.
    final class Prometheus: @unchecked Sendable {
        let process = Process()
        let url: String
        let queryLog: String
        init(binary: String, dir: TemporaryDirectory, target: String) throws {
            let port = try TestServer.freePort()
            let config = try dir.write("prometheus/prometheus.yml", """
                global: {scrape_interval: 1s, evaluation_interval: 1s, query_log_file: \(dir.path)/prometheus/queries.log}
                scrape_configs:
                  - job_name: tarmac
                    static_configs: [{targets: ["\(target)"]}]
                """)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--config.file=\(config)", "--storage.tsdb.path=\(dir.path)/prometheus/data", "--web.listen-address=127.0.0.1:\(port)"]
            let log = dir.path + "/prometheus/log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = process.standardOutput
            try process.run()
            url = "http://127.0.0.1:\(port)"
            queryLog = dir.path + "/prometheus/queries.log"
        }
        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test(.enabled(if: prometheus != nil, "needs Prometheus (apt-get install prometheus; .ci/run installs it)"))
    func aCanaryIsRolledBackOnFiguresReadFromPrometheus() async throws {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort)])
        let prom = try Prometheus(binary: try #require(Self.prometheus), dir: server.dir, target: "127.0.0.1:\(server.port)")
        try server.usePlatform(appendingToSpec: "\n  metrics:\n    prometheus: \(prom.url)\n")
        try await server.start()
        #expect(server.serverLog.contains("rollouts analyse figures from Prometheus \(prom.url)"), "\(server.serverLog)")
        try await eventually("Prometheus is ready", timeout: .seconds(60)) { (try? await TestServer.request(.GET, prom.url + "/-/ready").0) == 200 }
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        try InferenceServingTests.serveStub(server, token: member)
        let url = "http://127.0.0.1:\(inferencePort)/search/ranker/v1/completions"
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)")], body: "{}").0) == 200
        }
        let load = RolloutTests.Load()
        let client = Task { await load.run(url, token: member) }
        defer { load.stop(); client.cancel() }

        // What Prometheus has of the serving version, by the default queries: requests and no errors.
        let source = PrometheusSource(url: prom.url)
        try await eventually("Prometheus has scraped the gateway's counts", timeout: .seconds(30)) {
            await source.measure(service: "search/ranker", version: "1.0.0", lastSeconds: 10).requests >= 20
        }
        let healthy = await source.measure(service: "search/ranker", version: "1.0.0", lastSeconds: 10)
        #expect(healthy.successRate == 1 && healthy.p99LatencyMs > 0 && healthy.modelErrors == 0, "\(healthy)")

        // A canary at 50% that fails: rolled back at the end of its window on Prometheus's figures.
        let r = try server.cli(["rollout", "start", "ranker", "--to", "2.0.0", "--steps", "50,analysis 8s", "--min-success-rate", "0.9", "--min-requests", "5"],
                               token: member)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try await eventually("the canary takes its share", timeout: .seconds(60)) { (try await RolloutTests.view(server, member))["phase"] as? String == "analyzing" }
        let canary = try #require((try await server.json(.GET, "/v1/workloads/ranker-2-0-0", token: member).1["endpoints"] as? [String])?.first)
        #expect(try await TestServer.requestWithHeaders(.POST, canary + "/control", body: #"{"fail": true}"#).0 == 200)
        try await eventually("the canary is rolled back", timeout: .seconds(40)) { (try await RolloutTests.view(server, member))["phase"] as? String == "rolledBack" }
        let v = try await RolloutTests.view(server, member)
        let message = v["message"] as? String ?? ""
        #expect(message.contains("analysis failed: success rate") && message.contains("(model-side: "), "\(v)")
        #expect(v["weights"] as? [String: Int] == ["1.0.0": 100, "2.0.0": 0])
        // The figures were Prometheus's: it was asked for the canary over the analysis window, and what it says now agrees.
        let queries = (try? String(contentsOfFile: prom.queryLog, encoding: .utf8)) ?? ""
        #expect(queries.contains(#"version=\"2.0.0\"}[8s]"#), "\(queries.suffix(2000))")
        let seen = await source.measure(service: "search/ranker", version: "2.0.0", lastSeconds: 30)
        #expect(seen.requests > 0 && seen.successRate < 0.9 && seen.modelErrors > 0 && seen.infrastructureErrors == 0, "\(seen)")
    }
}
}
