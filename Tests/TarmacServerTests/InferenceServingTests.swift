import Foundation
import TarmacTesting
import Testing

extension ServerTests {
/// A model served by `tarmac up`: an InferenceService running the OpenAI-compatible stub (Tests/Support/model_server.py,
/// sent as its working directory) as a local pod, reached through the inference gateway with a person's token;
/// its answers measured on /metrics.
@Suite struct InferenceServingTests {
    @Test func anInferenceServiceIsServedThroughTheGatewayAndMeasured() async throws {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort)])
        try await server.start()
        let admin = try server.adminToken
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        try server.dir.write("serve/model_server.py", try String(contentsOfFile: Fixtures.path("Tests/Support/model_server.py"), encoding: .utf8))
        let doc = try server.dir.write("serve/ranker.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: ranker, team: search, env: dev, owner: alice@acme.example}
            spec:
              size: cpu-small
              model: ranker@1.0.0
              image: docker.io/library/python:3.12-slim
              command: [python3, model_server.py]
              workdir: .
              port: 8080
            """)
        let submitted = try server.cli(["submit", doc], token: member)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let gateway = "http://127.0.0.1:\(inferencePort)"
        func call(_ path: String, token: String?, body: String = #"{"prompt": "rank these"}"#) async throws -> (Int, [String: Any], String) {
            var headers: [(String, String)] = [("Content-Type", "application/json")]
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            let (s, d) = try await TestServer.request(.POST, gateway + path, headers: headers, body: body)
            return (s, (try? JSONSerialization.jsonObject(with: d) as? [String: Any]) ?? [:], String(decoding: d, as: UTF8.self))
        }
        // Until its replica listens the gateway says so (503); then it answers as the model it serves.
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await call("/search/ranker/v1/completions", token: member).0) == 200
        }
        for _ in 0..<9 { _ = try await call("/search/ranker/v1/completions", token: member) }
        let (status, answer, _) = try await call("/search/ranker/v1/completions", token: member)
        #expect(status == 200 && answer["model"] as? String == "ranker@1.0.0", "\(answer)")
        let (_, _, streamed) = try await call("/search/ranker/v1/completions", token: member, body: #"{"prompt": "a b c", "stream": true}"#)
        #expect(streamed.contains("data: [DONE]"), "\(streamed)")
        #expect(try await call("/search/ranker/v1/completions", token: nil).0 == 401)
        #expect(try await call("/search/ranker/v1/completions", token: ads).0 == 404)

        // On /metrics: requests by code, durations, time to first token, tokens from usage, per team/service/model/version.
        let (_, m) = try await server.http(.GET, "/metrics", token: nil)
        let metrics = String(decoding: m, as: UTF8.self)
        let labels = #"team="search",service="ranker",model="ranker",version="1.0.0""#
        func value(_ name: String, _ extra: String = "") -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + "{") && $0.contains(labels) && (extra.isEmpty || $0.contains(extra)) }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        #expect((value("tarmac_inference_requests_total", #"code="200""#) ?? 0) >= 11, "\(metrics.split(separator: "\n").filter { $0.contains("inference") })")
        #expect((value("tarmac_inference_prompt_tokens_total") ?? 0) >= 11 * 2 + 3)
        #expect((value("tarmac_inference_completion_tokens_total") ?? 0) >= 11 * 3)
        #expect((value("tarmac_inference_request_duration_seconds_count") ?? 0) >= 11)
        // Refusals before a version was chosen (no token, another team, no replica yet) count under the service alone.
        #expect(metrics.contains(#"tarmac_inference_requests_total{team="search",service="ranker",code="401"}"#), "\(metrics.split(separator: "\n").filter { $0.contains("requests_total") })")
        #expect(value("tarmac_inference_time_to_first_token_seconds_count") == 1)
        _ = admin
    }
}
}
