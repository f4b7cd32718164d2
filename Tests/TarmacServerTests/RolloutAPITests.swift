import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TarmacAPI
import TarmacContract
import TarmacCore
import TarmacDelivery
import TarmacGateway
import TarmacRuntime
import TarmacServer
import Prometheus
import TarmacTesting
import Testing

/// The rollout routes in process (fake backend, no gateway traffic): what a rollout may start and who may act on it.
@Suite struct RolloutAPITests {
    /// A harness on the example platform with a staging environment whose promotion contract is `promotion` (YAML after
    /// `promotion:`, a flow mapping or lines indented by four more spaces than `staging:`).
    static func harness(staging promotion: String) async throws -> RouterTests.Harness {
        let dir = try TemporaryDirectory(prefix: "tarmac-rollout-api")
        let file = try dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              environments:
                staging:
                  promotion: \(promotion)
            """)
        let loaded = ContractLoader.load(file)
        return try await RouterTests.Harness(contract: try #require(loaded.contract, "\(loaded.diagnostics)"))
    }

    /// `ranker` (ranker@1.0.0, team search, env staging) running on the harness's fake backend, and the routes with
    /// `runner` for rollouts.
    static func serving(_ h: RouterTests.Harness, _ runner: RolloutRunner) async throws -> some ApplicationProtocol {
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
        // What serves first is not what these tests are about (its own gates are ServingReviewTests'): it is let in.
        let w = try await h.cp.submit(text: doc, requestID: nil, by: admin, runsImages: false, servingGates: false).workload
        try await eventually("the service runs") {
            await h.cp.tick()
            h.backend.start(w.id, attempt: 1)
            return await h.cp.current(w.id)?.state == .running
        }
        return Application(router: buildRouter(ServerDependencies(controlPlane: h.cp, tokens: h.tokens, registry: PrometheusCollectorRegistry(), runsImages: false,
                                                                  rateLimit: 0, rollouts: runner)))
    }

    @Test func aContractThatRequiresAnalysisRefusesARolloutWithoutRules() async throws {
        let h = try await Self.harness(staging: "{requireAnalysis: true}")
        let runner = RolloutRunner(controlPlane: h.cp, metrics: InferenceStats(), serving: { _ in false })
        let app = try await Self.serving(h, runner)
        try await app.test(.router) { c async throws in
            func start(_ body: String, _ token: String) async throws -> TestResponse {
                try await c.execute(uri: "/v1/rollouts", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                    body: ByteBuffer(string: body))
            }
            var r = try await start(#"{"service": "ranker", "to": "2.0.0", "steps": ["10", "50"]}"#, h.member)
            #expect(r.status == .unprocessableContent)
            #expect(String(buffer: r.body).contains("environment staging's promotion contract refuses this rollout to ranker@2.0.0: analysis: the rollout has no analysis rules"),
                    "\(String(buffer: r.body))")
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

    /// A rollout passes the gates a promotion passes (#26): where the environment's promotion contract asks for a signature,
    /// an owner and a review, a rollout to a version not in the registry, unsigned, or approved only by its author is
    /// refused with the gate's reason and nothing starts; a version that passes every gate rolls out, and the audit
    /// record names what each gate rested on.
    @Test func aRolloutPassesTheSameGatesAsAPromotion() async throws {
        let release = P256.Signing.PrivateKey()
        let key = release.publicKey.pemRepresentation.split(separator: "\n").map { "            " + $0 }.joined(separator: "\n")
        let h = try await Self.harness(staging: """

                    requireSignature: true
                    requireOwner: true
                    requireReview: true
                    trustedKeys:
                      release: |
            \(key)
            """)
        let runner = RolloutRunner(controlPlane: h.cp, metrics: InferenceStats(), serving: { _ in false })
        let registry = ModelRegistry(store: h.store, controlPlane: h.cp, artifacts: nil)
        let alice = Principal(tokenID: "t-alice", name: "alice", role: .member, team: "search")
        let carol = Principal(tokenID: "t-carol", name: "carol", role: .member, team: "search")
        let files = [ModelFileView(path: "model.safetensors", sha256: String(repeating: "ab", count: 32), size: 10)]
        let manifest = ModelManifest(files: files.map { .init(path: $0.path, sha256: $0.sha256, size: $0.size) })
        for (version, signer) in [("1.1.0", nil), ("1.2.0", release)] as [(String, P256.Signing.PrivateKey?)] {
            let signature = try signer.map { try $0.signature(for: manifest.canonical).derRepresentation.base64EncodedString() }
            _ = try await registry.register(model: "ranker", ModelRegistration(version: version, files: files, uri: "s3://models/ranker/\(version)",
                                                                              signature: signature, owner: "bob@acme.example"), by: alice)
        }
        _ = try await registry.approve("ranker", "1.2.0", ApprovalRequest(comment: "mine"), by: alice)
        let app = try await Self.serving(h, runner)
        try await app.test(.router) { c async throws in
            func start(_ version: String) async throws -> (status: HTTPResponse.Status, message: String, gates: [String]) {
                let r = try await c.execute(uri: "/v1/rollouts", method: .post, headers: [.authorization: "Bearer \(h.member)", .contentType: "application/json"],
                                            body: ByteBuffer(string: #"{"service": "ranker", "to": "\#(version)", "steps": ["10", "pause"]}"#))
                let e = ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any])?["error"] as? [String: Any] ?? [:]
                return (r.status, e["message"] as? String ?? String(buffer: r.body), (e["diagnostics"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String })
            }
            var r = try await start("2.0.0")
            #expect(r.status == .unprocessableContent && r.message.contains("ranker@2.0.0 is not in team search's registry") && r.message.contains("register it first"), "\(r)")
            r = try await start("1.1.0")
            #expect(r.status == .unprocessableContent && r.message.contains("signature: ranker@1.1.0 is not signed"), "\(r)")
            #expect(r.gates.contains { $0.contains("FAIL  signature") } && r.gates.contains { $0.contains("pass  owner") }, "\(r.gates)")
            r = try await start("1.2.0")
            #expect(r.status == .unprocessableContent && r.message.contains("review: ") && r.message.contains("approved only by its author (alice)"), "\(r)")
            #expect(await runner.list(by: Principal(tokenID: "t-admin", name: "admin", role: .admin, team: nil)).isEmpty, "nothing started")
            #expect(await h.cp.servedServices().count == 1)
            // Reviewed by someone else: every gate passes and the rollout starts.
            _ = try await registry.approve("ranker", "1.2.0", ApprovalRequest(comment: "checked the eval"), by: carol)
            r = try await start("1.2.0")
            #expect(r.status == .created, "\(r)")
            let started = try await h.store.auditRecords(AuditQuery(action: "rollout-start"))
            let detail = started.last?.detail ?? ""
            #expect(detail.contains("signature: signed by release") && detail.contains("owner: owned by bob@acme.example") && detail.contains("review: approved by carol"),
                    "\(detail)")
        }
    }
}
