import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TarmacContract
import TarmacCore
import TarmacGateway
import TarmacRuntime
import TarmacServer
import Prometheus
import TarmacTesting
import Testing

/// The rollout routes in process (fake backend, no gateway traffic): what a rollout may start and who may act on it.
@Suite struct RolloutAPITests {
    @Test func aContractThatRequiresAnalysisRefusesARolloutWithoutRules() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-rollout-api")
        let file = try dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              environments:
                staging:
                  promotion: {requireAnalysis: true}
            """)
        let loaded = ContractLoader.load(file)
        let h = try await RouterTests.Harness(contract: try #require(loaded.contract, "\(loaded.diagnostics)"))
        let runner = RolloutRunner(controlPlane: h.cp, metrics: InferenceStats(), serving: { _ in false })
        let doc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: ranker, team: search, env: staging, owner: alice@acme.example}
            spec:
              size: cpu-small
              model: ranker@1.0.0
              image: docker.io/library/python:3.12-slim
              command: [python3, -m, http.server]
              port: 8080
            """
        let admin = Principal(tokenID: "t-admin", name: "admin", role: .admin, team: nil)
        let w = try await h.cp.submit(text: doc, requestID: nil, by: admin, runsImages: false).workload
        try await eventually("the service runs") {
            await h.cp.tick()
            h.backend.start(w.id, attempt: 1)
            return await h.cp.current(w.id)?.state == .running
        }
        let app = Application(router: buildRouter(ServerDependencies(controlPlane: h.cp, tokens: h.tokens, registry: PrometheusCollectorRegistry(), runsImages: false,
                                                                     rateLimit: 0, rollouts: runner)))
        try await app.test(.router) { c async throws in
            func start(_ body: String, _ token: String) async throws -> TestResponse {
                try await c.execute(uri: "/v1/rollouts", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                    body: ByteBuffer(string: body))
            }
            var r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "50"]}"#, h.member)
            #expect(r.status == .unprocessableContent)
            #expect(String(buffer: r.body).contains("environment staging's promotion contract requires analysis"), "\(String(buffer: r.body))")
            r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "analysis 30s"], "rules": [{"metric": "succesRate", "threshold": 0.99}]}"#, h.member)
            #expect(r.status == .unprocessableContent && String(buffer: r.body).contains("did you mean 'successRate'"), "\(String(buffer: r.body))")
            r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "analysis 30s"], "rules": [{"metric": "successRate", "threshold": 0.99}]}"#, h.viewer)
            #expect(r.status == .forbidden)
            r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "analysis 30s"], "rules": [{"metric": "successRate", "threshold": 0.99}]}"#, h.outsider)
            #expect(r.status == .notFound, "another team's service does not exist for them")
            r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "analysis 30s"], "rules": [{"metric": "successRate", "threshold": 0.99}]}"#, h.member)
            #expect(r.status == .created, "\(String(buffer: r.body))")
            r = try await start(#"{"service": "ranker", "to": "3.0.0", "steps": ["10", "analysis 30s"], "rules": [{"metric": "successRate", "threshold": 0.99}]}"#, h.member)
            #expect(r.status == .conflict && String(buffer: r.body).contains("rolling out to ranker@2.0.0 already"), "\(String(buffer: r.body))")
        }
    }
}
