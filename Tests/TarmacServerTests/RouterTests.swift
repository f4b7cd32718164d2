import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import TarmacContract
import TarmacCore
import TarmacRuntime
import TarmacServer
import TarmacTesting
import Testing

/// The API's routes in process (Hummingbird's router test client, no socket): every route's authentication,
/// authorization and error mapping, against the control plane over the in-memory store, the fake backend and a manual
/// clock. The end-to-end suites (real `tarmac up`, real processes) check what these cannot: sockets, limits, pods.
@Suite struct RouterTests {
    final class Harness: Sendable {
        static let contract: Contract = ContractLoader.load(Fixtures.examplePlatform).contract!
        let clock = ManualClock()
        let store = InMemoryStore()
        let backend = FakeBackend(cpus: 4)
        let cp: ControlPlane
        let tokens: Tokens
        /// Secrets by role: an admin, a member and a viewer of team search, an auditor (a viewer bound to no team),
        /// and a member of another team.
        let admin: String, member: String, viewer: String, auditor: String, outsider: String

        init(contract: Contract = Harness.contract) async throws {
            cp = ControlPlane(contract: contract, store: store, backend: backend, clock: clock)
            try await cp.start()
            tokens = Tokens(store: store, teams: Set(contract.platform.teams.keys), clock: clock)
            admin = try #require(try await tokens.bootstrap())
            let by = AuditActor(kind: .user, id: "admin")
            member = try await tokens.create(name: "alice", role: .member, team: "search", ttl: nil, by: by).secret
            viewer = try await tokens.create(name: "vic", role: .viewer, team: "search", ttl: nil, by: by).secret
            auditor = try await tokens.create(name: "audrey", role: .viewer, team: nil, ttl: nil, by: by).secret
            outsider = try await tokens.create(name: "oscar", role: .member, team: "ads", ttl: nil, by: by).secret
        }

        func app(rateLimit: Double = 0, burst: Double = 200, models: ModelRegistry? = nil) -> some ApplicationProtocol {
            Application(router: buildRouter(ServerDependencies(controlPlane: cp, tokens: tokens, registry: PrometheusCollectorRegistry(),
                                                               runsImages: false, rateLimit: rateLimit, rateBurst: burst, models: models)))
        }
    }

    struct Call: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        var testDescription: String { "\(method) \(path)" }
    }

    /// A one-worker training job of `team` (the suite's document builder).
    static func doc(_ name: String, team: String = "search") -> String { Doc.training(name, team: team, script: "print(1)") }

    /// Every route under /v1 that needs a token.
    static let guarded: [Call] = [
        Call(method: .get, path: "/v1/whoami"), Call(method: .get, path: "/v1/tokens"), Call(method: .post, path: "/v1/tokens", body: #"{"role":"viewer"}"#),
        Call(method: .delete, path: "/v1/tokens/tok-x"), Call(method: .get, path: "/v1/audit"), Call(method: .get, path: "/v1/audit/verify"),
        Call(method: .get, path: "/v1/audit/export"), Call(method: .post, path: "/v1/workloads", body: doc("guarded")), Call(method: .get, path: "/v1/workloads"),
        Call(method: .get, path: "/v1/workloads/x"), Call(method: .post, path: "/v1/workloads/x/cancel"), Call(method: .get, path: "/v1/workloads/x/why"),
        Call(method: .post, path: "/v1/workloads/x/checkpoint", body: "{}"), Call(method: .get, path: "/v1/workloads/x/logs"),
        Call(method: .get, path: "/v1/workloads/x/workdir"), Call(method: .get, path: "/v1/queue"), Call(method: .get, path: "/v1/platform"),
        Call(method: .get, path: "/v1/sizes"), Call(method: .put, path: "/v1/workdirs/sha256:" + String(repeating: "0", count: 64), body: ""),
        Call(method: .post, path: "/v1/workloads/check", body: doc("checked")),
    ]

    static func send(_ client: some TestClientProtocol, _ c: Call, token: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if c.body != nil { headers[.contentType] = c.path.hasPrefix("/v1/workloads") ? "application/yaml" : "application/json" }
        return try await client.execute(uri: c.path, method: c.method, headers: headers, body: c.body.map { ByteBuffer(string: $0) })
    }

    static func errorCode(_ r: TestResponse) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["code"] as? String }
    }

    @Test(arguments: guarded)
    func withoutAValidTokenEveryRouteIs401(_ c: Call) async throws {
        let h = try await Harness()
        try await h.app().test(.router) { client async throws in
            for token in [nil, "tmc_notatoken", "Basic abc"] as [String?] {
                let r = try await Self.send(client, c, token: token)
                #expect(r.status == .unauthorized, "\(c.testDescription) with \(token ?? "no token"): \(r.status)")
                #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(Self.errorCode(r) == "unauthenticated", "\(String(buffer: r.body))")
            }
        }
    }

    /// Who may call what: (route, role) -> status. Denials are 403 with code `forbidden`.
    @Test func eachRoleGetsWhatItsRulesAllow() async throws {
        let h = try await Harness()
        try await h.app().test(.router) { client async throws in
            func status(_ c: Call, _ token: String) async throws -> HTTPResponse.Status { try await Self.send(client, c, token: token).status }
            let tokensList = Call(method: .get, path: "/v1/tokens"), newToken = Call(method: .post, path: "/v1/tokens", body: #"{"role":"viewer","team":"search"}"#)
            let audit = Call(method: .get, path: "/v1/audit"), verify = Call(method: .get, path: "/v1/audit/verify"), export = Call(method: .get, path: "/v1/audit/export")
            for (token, allowed) in [(h.admin, true), (h.member, false), (h.viewer, false), (h.auditor, false), (h.outsider, false)] {
                #expect(try await status(tokensList, token) == (allowed ? .ok : .forbidden))
                #expect(try await status(newToken, token) == (allowed ? .created : .forbidden))
            }
            for (token, allowed) in [(h.admin, true), (h.auditor, true), (h.member, false), (h.viewer, false), (h.outsider, false)] {
                for c in [audit, verify, export] { #expect(try await status(c, token) == (allowed ? .ok : .forbidden), "\(c.testDescription)") }
            }
            // Submits: members for their team, admins for any; viewers and other teams' members never.
            #expect(try await status(Call(method: .post, path: "/v1/workloads", body: Self.doc("by-member")), h.member) == .created)
            #expect(try await status(Call(method: .post, path: "/v1/workloads", body: Self.doc("by-admin")), h.admin) == .created)
            #expect(try await status(Call(method: .post, path: "/v1/workloads", body: Self.doc("by-viewer")), h.viewer) == .forbidden)
            #expect(try await status(Call(method: .post, path: "/v1/workloads", body: Self.doc("by-outsider")), h.outsider) == .forbidden)
            #expect(try await status(Call(method: .put, path: "/v1/workdirs/sha256:" + String(repeating: "0", count: 64), body: ""), h.viewer) == .forbidden)
            // Reading and changing a workload: its team and admins; another team does not even see it.
            let get = Call(method: .get, path: "/v1/workloads/by-member"), cancel = Call(method: .post, path: "/v1/workloads/by-member/cancel")
            for token in [h.admin, h.member, h.viewer, h.auditor] { #expect(try await status(get, token) == .ok) }
            #expect(try await status(get, h.outsider) == .notFound)
            #expect(try await status(cancel, h.viewer) == .forbidden)
            #expect(try await status(cancel, h.outsider) == .notFound)
            let cancelled = try await status(cancel, h.member)
            #expect(cancelled == .accepted || cancelled == .ok, "\(cancelled)")
            // Everyone may ask who they are.
            for token in [h.admin, h.member, h.viewer, h.auditor, h.outsider] { #expect(try await status(Call(method: .get, path: "/v1/whoami"), token) == .ok) }
        }
    }

    /// Bad requests get a 4xx with a code and a message, and change nothing.
    @Test func badRequestsAreMappedToTheirStatus() async throws {
        let h = try await Harness()
        try await h.app().test(.router) { client async throws in
            let before = try await h.store.auditHead()
            let cases: [(Call, HTTPResponse.Status, String)] = [
                (Call(method: .get, path: "/v1/audit?limit=0"), .badRequest, "badRequest"),
                (Call(method: .get, path: "/v1/audit?since=yesterday"), .badRequest, "badRequest"),
                (Call(method: .post, path: "/v1/workloads", body: "kind: [unclosed"), .unprocessableContent, "invalid"),
                (Call(method: .post, path: "/v1/workloads", body: Self.doc("Bad_Name")), .unprocessableContent, "invalid"),
                (Call(method: .post, path: "/v1/tokens", body: #"{"role":"king"}"#), .unprocessableContent, "invalid"),
                (Call(method: .post, path: "/v1/tokens", body: "not json"), .badRequest, "badRequest"),
                (Call(method: .delete, path: "/v1/tokens/tok-nope"), .notFound, "notFound"),
                (Call(method: .get, path: "/v1/workloads/nope"), .notFound, "notFound"),
                (Call(method: .get, path: "/v1/workloads/nope/why"), .notFound, "notFound"),
                (Call(method: .put, path: "/v1/workdirs/md5:abc", body: ""), .badRequest, "badRequest"),
            ]
            for (c, want, code) in cases {
                let r = try await Self.send(client, c, token: h.admin)
                #expect(r.status == want && Self.errorCode(r) == code, "\(c.testDescription): \(r.status) \(String(buffer: r.body))")
            }
            #expect(try await h.store.auditHead()?.seq == before?.seq, "a refused request writes nothing")
            #expect(try await h.store.loadWorkloads().isEmpty)
        }
    }

    /// A submit goes to the control plane and its backend; the same idempotency key returns the same workload.
    @Test func aSubmitIsStoredOnceAndReplayed() async throws {
        let h = try await Harness()
        try await h.app().test(.router) { client async throws in
            var headers: HTTPFields = [.authorization: "Bearer \(h.member)", .contentType: "application/yaml"]
            headers[HTTPField.Name("Idempotency-Key")!] = "k-1"
            let first = try await client.execute(uri: "/v1/workloads", method: .post, headers: headers, body: ByteBuffer(string: Self.doc("once")))
            let again = try await client.execute(uri: "/v1/workloads", method: .post, headers: headers, body: ByteBuffer(string: Self.doc("once")))
            #expect(first.status == .created && again.status == .ok, "\(first.status) \(again.status)")
            let id = { (r: TestResponse) in ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: Any])?["id"] as? String }
            #expect(id(first) != nil && id(first) == id(again))
            #expect(try await h.store.loadWorkloads().count == 1)
            #expect(try await h.store.auditRecords(AuditQuery(action: "submit")).count == 1)
        }
    }

    /// Over a token's rate: 429 with Retry-After (a rate of one call per 1,000 s, so time cannot refill it mid-test).
    @Test func overItsRateATokenGets429() async throws {
        let h = try await Harness()
        try await h.app(rateLimit: 0.001, burst: 1).test(.router) { client async throws in
            let c = Call(method: .get, path: "/v1/whoami")
            #expect(try await Self.send(client, c, token: h.member).status == .ok)
            let r = try await Self.send(client, c, token: h.member)
            #expect(r.status == .tooManyRequests && Int(r.headers[.retryAfter] ?? "") ?? 0 > 0, "\(r.status) \(r.headers)")
            #expect(try await Self.send(client, c, token: h.admin).status == .ok, "each token has its own bucket")
        }
    }

    /// The probes and documents need no token.
    @Test func probesAndDocumentsAreOpen() async throws {
        let h = try await Harness()
        try await h.app().test(.router) { client async throws in
            for path in ["/healthz", "/readyz", "/metrics", "/openapi.yaml"] {
                #expect(try await client.execute(uri: path, method: .get).status == .ok, "\(path)")
            }
            #expect(try await client.execute(uri: "/.well-known/jwks.json", method: .get).status == .notFound, "no identity routes without credentials")
        }
    }
}
