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
import TarmacRuntime
import TarmacTesting
import Testing

/// Promotions through the routes, in process: each gate of an environment's promotion contract refuses with its own
/// message and nothing changes; a promotion that passes moves the environment's alias and is audited with every gate's
/// result; a protected alias moves by no other way; who may promote is the contract's to say.
@Suite struct ModelPromotionAPITests {
    struct Setup {
        let h: RouterTests.Harness
        let dir: TemporaryDirectory
        let registry: ModelRegistry
        let release: P256.Signing.PrivateKey
        let carol: String
        let alice = Principal(tokenID: "t-alice", name: "alice", role: .member, team: "search")
    }

    /// The example platform, with prod trusting a key made here, and a staging environment that asks for a warm
    /// rollback target and lets only admins promote.
    static func setup() async throws -> Setup {
        let dir = try TemporaryDirectory(prefix: "tarmac-promotion")
        let release = P256.Signing.PrivateKey()
        let file = try Self.platform(in: dir, trusting: release.publicKey.pemRepresentation,
                                     more: "    staging:\n      promotion: {requireWarmRollback: true, promoters: [\"role:admin\"]}")
        let loaded = ContractLoader.load(file)
        let contract = try #require(loaded.contract, "\(loaded.diagnostics)")
        let h = try await RouterTests.Harness(contract: contract)
        let registry = ModelRegistry(store: h.store, controlPlane: h.cp, artifacts: try ModelArtifacts(root: dir.path + "/models"))
        let carol = try await h.tokens.create(name: "carol", role: .member, team: "search", ttl: nil, by: AuditActor(kind: .user, id: "admin")).secret
        return Setup(h: h, dir: dir, registry: registry, release: release, carol: carol)
    }

    /// The example platform extended so that prod trusts `pem` as its `release` key; `more` adds environments (lines
    /// indented by four spaces, as entries of `environments`). Returns the file's path.
    static func platform(in dir: TemporaryDirectory, trusting pem: String, more: String = "") throws -> String {
        let key = pem.split(separator: "\n").map { "            " + $0 }.joined(separator: "\n")
        return try dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              environments:
                prod:
                  promotion:
                    trustedKeys:
                      release: |
            \(key)
            \(more)
            """)
    }

    static let files = [ModelFileView(path: "model.safetensors", sha256: String(repeating: "ab", count: 32), size: 10)]

    /// Registers `version` as alice (its author), signed by `key` when given.
    static func register(_ s: Setup, _ version: String, signedBy key: P256.Signing.PrivateKey? = nil, owner: String? = "bob@acme.example") async throws {
        let manifest = ModelManifest(files: files.map { .init(path: $0.path, sha256: $0.sha256, size: $0.size) })
        let signature = try key.map { try $0.signature(for: manifest.canonical).derRepresentation.base64EncodedString() }
        _ = try await s.registry.register(model: "ranker", ModelRegistration(version: version, files: files, uri: "s3://models/ranker/\(version)",
                                                                            signature: signature, owner: owner), by: s.alice)
    }

    static func send(_ c: some TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, _ token: String, _ body: [String: Any]? = nil) async throws -> TestResponse {
        try await c.execute(uri: path, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                            body: try body.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)) })
    }

    static func json(_ r: TestResponse) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]) ?? [:] }
    static func error(_ r: TestResponse) -> (message: String, gates: [String]) {
        let e = json(r)["error"] as? [String: Any] ?? [:]
        return (e["message"] as? String ?? String(buffer: r.body), (e["diagnostics"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String })
    }

    func aliases(_ s: Setup) async throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try await s.h.store.aliases(team: "search", model: "ranker").map { ($0.name, $0.version.description) })
    }

    @Test func eachGateRefusesWithItsReasonAndAPassingPromotionMovesTheAlias() async throws {
        let s = try await Self.setup()
        let stranger = P256.Signing.PrivateKey()
        try await Self.register(s, "1.0.0")                                    // unsigned
        try await Self.register(s, "1.1.0", signedBy: stranger)               // signed by a key prod does not trust
        try await Self.register(s, "1.2.0", signedBy: s.release, owner: nil)  // signed, no owner
        try await Self.register(s, "1.3.0", signedBy: s.release)              // everything, once reviewed
        try await s.h.app(models: s.registry).test(.router) { c async throws in
            func promote(_ version: String, _ token: String, env: String = "prod", dryRun: Bool = false) async throws -> TestResponse {
                try await Self.send(c, .post, "/v1/models/ranker/promote", token, ["version": version, "env": env, "dryRun": dryRun])
            }
            var r = try await promote("1.0.0", s.h.member)
            #expect(r.status == .unprocessableContent)
            var e = Self.error(r)
            #expect(e.message.contains("refused by 2 gates signature, review; nothing changed"), "\(e.message)")
            #expect(e.gates.contains { $0.contains("FAIL  signature: ranker@1.0.0 is not signed") }, "\(e.gates)")
            #expect(e.gates.contains { $0.contains("pass  owner: owned by bob@acme.example") }, "\(e.gates)")
            #expect(e.gates.contains { $0.contains("FAIL  review:") && $0.contains("nobody approved it") }, "\(e.gates)")
            r = try await promote("1.1.0", s.h.member)
            #expect(Self.error(r).gates.contains { $0.contains("FAIL  signature") && $0.contains("does not verify with any trusted key (release)") }, "\(Self.error(r).gates)")
            r = try await promote("1.2.0", s.h.member)
            #expect(Self.error(r).gates.contains { $0.contains("FAIL  owner: ranker@1.2.0 has no owner") }, "\(Self.error(r).gates)")
            #expect(Self.error(r).gates.contains { $0.contains("pass  signature: signed by release") })
            // Approved by its own author only: the review gate still refuses.
            r = try await Self.send(c, .post, "/v1/models/ranker/versions/1.3.0/approve", s.h.member, ["comment": "mine"])
            #expect(r.status == .created)
            r = try await promote("1.3.0", s.h.member)
            e = Self.error(r)
            #expect(r.status == .unprocessableContent && e.gates.contains { $0.contains("approved only by its author (alice)") }, "\(e.gates)")
            #expect(try await aliases(s).isEmpty, "refused promotions moved an alias")
            #expect(try await s.h.store.auditRecords(AuditQuery(action: "model-promote")).isEmpty)

            // A second person approves; a dry run says what would happen and changes nothing; then it moves.
            r = try await Self.send(c, .post, "/v1/models/ranker/versions/1.3.0/approve", s.carol)
            #expect(r.status == .created)
            r = try await Self.send(c, .post, "/v1/models/ranker/versions/1.3.0/approve", s.carol)
            #expect(r.status == .ok, "a second approval by the same person is the same approval")
            r = try await promote("1.3.0", s.h.member, dryRun: true)
            #expect(r.status == .ok && Self.json(r)["dryRun"] as? Bool == true && Self.json(r)["promoted"] as? Bool == false)
            #expect(try await aliases(s).isEmpty)
            r = try await promote("1.3.0", s.h.member)
            #expect(r.status == .ok, "\(Self.error(r))")
            let gates = (Self.json(r)["gates"] as? [[String: Any]] ?? []).map { "\($0["gate"] ?? "")=\($0["passed"] ?? "")" }
            #expect(gates == ["signature=1", "owner=1", "review=1"], "\(gates)")
            #expect(try await aliases(s) == ["prod": "1.3.0"])
            let audit = try await s.h.store.auditRecords(AuditQuery(action: "model-promote"))
            #expect(audit.count == 1 && audit[0].actorID == "alice" && audit[0].after == "1.3.0" && audit[0].before == "")
            #expect(audit[0].detail.contains("signature: signed by release") && audit[0].detail.contains("review: approved by carol"), "\(audit[0].detail)")
            r = try await Self.send(c, .get, "/v1/models/ranker/versions/1.3.0", s.h.member)
            #expect((Self.json(r)["approvals"] as? [[String: Any]])?.compactMap { $0["by"] as? String } == ["alice", "carol"])
            r = try await promote("1.3.0", s.h.member)
            #expect(r.status == .conflict, "promoting the version the alias points at already")

            // The prod alias is protected: no member and no admin moves it by hand.
            for token in [s.h.member, s.h.admin] {
                r = try await Self.send(c, .put, "/v1/models/ranker/aliases/prod", token, ["version": "1.0.0"])
                #expect(r.status == .forbidden && Self.error(r).message.contains("protected by environment prod's promotion contract"), "\(Self.error(r).message)")
            }
            #expect(try await aliases(s) == ["prod": "1.3.0"])
            // Who may promote: another team's member does not see the model; a viewer may not; an unknown environment is named.
            r = try await promote("1.3.0", s.h.outsider)
            #expect(r.status == .notFound)
            r = try await promote("1.2.0", s.h.viewer)
            #expect(r.status == .forbidden)
            r = try await promote("1.2.0", s.h.member, env: "prd")
            #expect(r.status == .notFound && Self.error(r).message.contains("did you mean 'prod'"), "\(Self.error(r).message)")
            // An environment without a promotion contract: no gates (its alias is not protected either).
            r = try await promote("1.0.0", s.h.member, env: "dev")
            #expect(r.status == .ok && (Self.json(r)["gates"] as? [Any])?.isEmpty == true)
            #expect(try await aliases(s) == ["prod": "1.3.0", "dev": "1.0.0"])
        }
    }

    /// Staging asks for a warm rollback target: the first promotion has none to ask for; the next passes only while an
    /// InferenceService of staging serves the version the alias points at. Only admins promote there.
    @Test func theWarmRollbackGateLooksAtWhatServes() async throws {
        let s = try await Self.setup()
        for v in ["1.0.0", "1.1.0", "1.2.0"] { try await Self.register(s, v) }
        try await s.h.app(models: s.registry).test(.router) { c async throws in
            func promote(_ version: String, _ token: String) async throws -> TestResponse {
                try await Self.send(c, .post, "/v1/models/ranker/promote", token, ["version": version, "env": "staging"])
            }
            var r = try await promote("1.0.0", s.h.member)
            #expect(r.status == .forbidden && Self.error(r).message.contains("lets role:admin promote"), "\(Self.error(r).message)")
            r = try await promote("1.0.0", s.h.admin)
            #expect(r.status == .ok, "\(Self.error(r))")
            #expect((Self.json(r)["gates"] as? [[String: Any]])?.first?["message"] as? String == "the first version promoted to staging: nothing to roll back to")
            r = try await promote("1.1.0", s.h.admin)
            #expect(r.status == .unprocessableContent)
            #expect(Self.error(r).gates.contains { $0.contains("FAIL  warm-rollback: the rollback target ranker@1.0.0 is not serving now") }, "\(Self.error(r).gates)")
            // An InferenceService of staging serving ranker@staging (the alias, at 1.0.0) makes the target warm.
            let doc = """
                apiVersion: tarmac.dev/v1alpha1
                kind: InferenceService
                metadata: {name: ranker, team: search, env: staging, owner: bob@acme.example}
                spec:
                  size: cpu-small
                  model: ranker@staging
                  image: docker.io/library/python:3.12-slim
                  command: [python3, -m, http.server]
                  port: 8080
                """
            let admin = Principal(tokenID: "t-admin", name: "admin", role: .admin, team: nil)
            let w = try await s.h.cp.submit(text: doc, requestID: nil, by: admin, runsImages: false).workload
            try await eventually("the service runs") {
                await s.h.cp.tick()
                s.h.backend.start(w.id, attempt: 1)
                return await s.h.cp.current(w.id)?.state == .running
            }
            r = try await promote("1.1.0", s.h.admin)
            #expect(r.status == .ok, "\(Self.error(r))")
            #expect((Self.json(r)["gates"] as? [[String: Any]])?.first?["message"] as? String == "rollback to ranker@1.0.0, warm")
            #expect(Self.json(r)["previous"] as? String == "1.0.0")
        }
    }
}
