import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import TarmacCore
import TarmacAPI
import TarmacGateway
import TarmacPortal
import TarmacRuntime
import TarmacServer
import TarmacTesting
import TarmacWorkdir
import Testing

/// The portal's routes in process (no socket, no browser): sign-in and its cookie, sessions that end, every page's
/// refusal without a session, every form's refusal without its CSRF token or from another origin, team scoping, and the
/// API routes the portal stands on. PortalBrowserTests does the same through a real Chromium.
@Suite struct PortalRouterTests {
    static let pages = ["/portal/workloads", "/portal/new", "/portal/sizes", "/portal/queue", "/portal/costs", "/portal/audit", "/portal/models",
                        "/portal/workloads/x", "/portal/workloads/x/logs"]
    static let forms = ["/portal/new", "/portal/new/check", "/portal/workloads/x/cancel", "/portal/signout", "/portal/models/m/promote",
                        "/portal/rollouts/s/abort"]

    struct Setup {
        var h: RouterTests.Harness
        var sessions: PortalSessions
    }

    static func setup() async throws -> Setup {
        let h = try await RouterTests.Harness()
        return Setup(h: h, sessions: PortalSessions(clock: h.clock))
    }

    static func app(_ s: Setup, workdirs: WorkdirStore? = nil, rateLimit: Double = 0, burst: Double = 200) -> some ApplicationProtocol {
        var deps = ServerDependencies(controlPlane: s.h.cp, tokens: s.h.tokens, registry: PrometheusCollectorRegistry(), runsImages: false, rateLimit: rateLimit,
                                      rateBurst: burst,
                                      workdirs: workdirs, models: ModelRegistry(store: s.h.store, controlPlane: s.h.cp, artifacts: nil))
        deps.portal = s.sessions
        return Application(router: buildRouter(deps))
    }

    /// Signs in with a token; returns the session cookie (`tarmac_session=…`) and the whole Set-Cookie header.
    static func signIn(_ client: some TestClientProtocol, _ token: String, headers extra: HTTPFields = [:]) async throws -> (cookie: String, header: String) {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: "http://localhost"]
        headers.append(contentsOf: extra)
        let r = try await client.execute(uri: "/portal/signin", method: .post, headers: headers, body: ByteBuffer(string: "token=\(token)&next=/portal/queue"))
        #expect(r.status == .seeOther && r.headers[.location] == "/portal/queue")
        let header = try #require(r.headers[.setCookie])
        return (String(header.split(separator: ";")[0]), header)
    }

    static func get(_ client: some TestClientProtocol, _ path: String, cookie: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(uri: path, method: .get, headers: headers)
    }

    static func post(_ client: some TestClientProtocol, _ path: String, cookie: String?, form: String, origin: String? = "http://localhost") async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let origin { headers[.origin] = origin }
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: form))
    }

    /// The CSRF token a page's forms carry.
    static func csrf(_ r: TestResponse) -> String? {
        let html = String(buffer: r.body)
        guard let at = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[at.upperBound...].prefix { $0 != "\"" })
    }

    @Test func everyPageWithoutASessionGoesToSignInAndBack() async throws {
        let s = try await Self.setup()
        try await Self.app(s).test(.router) { client in
            for page in Self.pages {
                let r = try await Self.get(client, page, cookie: nil)
                #expect(r.status == .seeOther, "\(page)")
                #expect(r.headers[.location] == "/portal/signin?next=" + page.replacingOccurrences(of: "/", with: "/"), "\(page): \(r.headers[.location] ?? "")")
            }
            let bogus = try await Self.get(client, "/portal/workloads", cookie: "tarmac_session=forged")
            #expect(bogus.status == .seeOther)
            let events = try await Self.get(client, "/portal/events", cookie: nil)
            #expect(events.status == .unauthorized)
        }
    }

    @Test func signInSetsAStrictHttpOnlyCookieAndNextStaysOnThePortal() async throws {
        let s = try await Self.setup()
        try await Self.app(s).test(.router) { client in
            let wrong = try await Self.post(client, "/portal/signin", cookie: nil, form: "token=tmc_nope")
            #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
            let (_, header) = try await Self.signIn(client, s.h.member)
            #expect(header.contains("HttpOnly") && header.contains("SameSite=Strict") && header.contains("Path=/portal") && !header.contains("Secure"))
            let (_, secure) = try await Self.signIn(client, s.h.member, headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
            #expect(secure.contains("; Secure"))
            for next in ["//evil.example/x", "https://evil.example/", "/v1/tokens", "/portal/\\\\evil"] {
                let r = try await Self.post(client, "/portal/signin", cookie: nil, form: "token=\(s.h.member)&next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
                #expect(r.headers[.location] == "/portal/workloads", "next=\(next) went to \(r.headers[.location] ?? "")")
            }
            let cross = try await Self.post(client, "/portal/signin", cookie: nil, form: "token=\(s.h.member)", origin: "http://evil.example")
            #expect(cross.status == .forbidden && cross.headers[.setCookie] == nil)
        }
    }

    @Test func everyFormNeedsTheSessionItsCSRFTokenAndThePortalsOrigin() async throws {
        let s = try await Self.setup()
        let id = try await s.h.cp.submit(text: RouterTests.doc("keep"), requestID: nil, by: Principal(tokenID: "t", name: "alice", role: .member, team: "search"),
                                         runsImages: false).workload.id
        try await Self.app(s).test(.router) { client in
            let (cookie, _) = try await Self.signIn(client, s.h.member)
            let page = try await Self.get(client, "/portal/workloads", cookie: cookie)
            let token = try #require(Self.csrf(page))
            for form in Self.forms {
                let path = form.replacingOccurrences(of: "/x/", with: "/\(id)/")
                let none = try await Self.post(client, path, cookie: nil, form: "csrf=\(token)")
                #expect(none.status == .unauthorized, "\(path) without a session: \(none.status)")
                let missing = try await Self.post(client, path, cookie: cookie, form: "")
                #expect(missing.status == .forbidden, "\(path) without the token: \(missing.status)")
                let wrong = try await Self.post(client, path, cookie: cookie, form: "csrf=" + String(token.reversed()))
                #expect(wrong.status == .forbidden, "\(path) with another token: \(wrong.status)")
                let cross = try await Self.post(client, path, cookie: cookie, form: "csrf=\(token)", origin: "http://evil.example")
                #expect(cross.status == .forbidden, "\(path) from another origin: \(cross.status)")
            }
            #expect(await s.h.cp.current(id)?.cancelRequested == false, "nothing refused changed anything")
            let cancel = try await Self.post(client, "/portal/workloads/\(id)/cancel", cookie: cookie, form: "csrf=\(token)")
            #expect(cancel.status == .seeOther && cancel.headers[.location] == "/portal/workloads/\(id)")
            let after = await s.h.cp.current(id)
            #expect(after?.cancelRequested == true || after?.state == .cancelled)
        }
    }

    @Test func pagesAreScopedLikeTheAPI() async throws {
        let s = try await Self.setup()
        let ads = try await s.h.cp.submit(text: RouterTests.doc("theirs", team: "ads"), requestID: nil, by: Principal(tokenID: "t", name: "admin", role: .admin, team: nil),
                                          runsImages: false).workload.id
        try await Self.app(s).test(.router) { client in
            let (member, _) = try await Self.signIn(client, s.h.member)
            for page in ["/portal/workloads", "/portal/new", "/portal/sizes", "/portal/queue", "/portal/costs", "/portal/models"] {
                let r = try await Self.get(client, page, cookie: member)
                #expect(r.status == .ok, "\(page): \(r.status)")
                #expect(r.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
                #expect(r.body.readableBytes < 100_000)
            }
            let theirs = try await Self.get(client, "/portal/workloads/\(ads)", cookie: member)
            let nothing = try await Self.get(client, "/portal/workloads/wl-000000000000", cookie: member)
            #expect(theirs.status == .forbidden && nothing.status == .forbidden, "another team's and a missing one read the same")
            #expect(String(buffer: theirs.body).contains("may not see workload") && !String(buffer: theirs.body).contains("theirs"))
            let logs = try await Self.get(client, "/portal/workloads/\(ads)/logs", cookie: member)
            #expect(logs.status == .forbidden)
            #expect(try await Self.get(client, "/portal/audit", cookie: member).status == .forbidden)
            let (auditor, _) = try await Self.signIn(client, s.h.auditor)
            #expect(try await Self.get(client, "/portal/audit", cookie: auditor).status == .ok)
            let (admin, _) = try await Self.signIn(client, s.h.admin)
            #expect(try await Self.get(client, "/portal/workloads/\(ads)", cookie: admin).status == .ok)
            #expect(try await Self.get(client, "/portal/workloads/wl-000000000000", cookie: admin).status == .notFound)
            #expect(try await Self.get(client, "/portal/rollouts", cookie: admin).status == .notFound, "no inference gateway here: no Rollouts")
        }
    }

    @Test func sessionsEndWhenIdleAtSignOutAndWithTheirToken() async throws {
        let s = try await Self.setup()
        try await Self.app(s).test(.router) { client in
            let (idle, _) = try await Self.signIn(client, s.h.member)
            s.h.clock.advance(by: s.sessions.settings.idleTimeout + 1)
            #expect(try await Self.get(client, "/portal/workloads", cookie: idle).status == .seeOther)
            let (cookie, _) = try await Self.signIn(client, s.h.member)
            let token = try #require(Self.csrf(try await Self.get(client, "/portal/queue", cookie: cookie)))
            let out = try await Self.post(client, "/portal/signout", cookie: cookie, form: "csrf=\(token)")
            #expect(out.status == .seeOther && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await Self.get(client, "/portal/queue", cookie: cookie).status == .seeOther)
            let (again, _) = try await Self.signIn(client, s.h.member)
            let id = try #require(try await s.h.tokens.list().first { $0.name == "alice" }?.id)
            try await s.h.tokens.revoke(id: id, by: AuditActor(kind: .user, id: "admin"))
            #expect(try await Self.get(client, "/portal/queue", cookie: again).status == .seeOther)
        }
    }

    @Test func aOneTimeLinkSignsInOnce() async throws {
        let s = try await Self.setup()
        try await Self.app(s).test(.router) { client in
            let made = try await client.execute(uri: "/v1/portal/links", method: .post, headers: [.authorization: "Bearer \(s.h.member)"])
            #expect(made.status == .created)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(buffer: made.body)) as? [String: Any])
            let url = try #require(o["url"] as? String)
            #expect(url.hasPrefix("http://localhost/portal/link?code="), "the link names the address it was asked at: \(url)")
            let path = String(url.dropFirst("http://localhost".count))
            let first = try await Self.get(client, path, cookie: nil)
            #expect(first.status == .seeOther && first.headers[.setCookie]?.hasPrefix("tarmac_session=") == true)
            let second = try await Self.get(client, path, cookie: nil)
            #expect(second.status == .unauthorized && second.headers[.setCookie] == nil)
            let unauthenticated = try await client.execute(uri: "/v1/portal/links", method: .post)
            #expect(unauthenticated.status == .unauthorized)
        }
    }

    @Test func theCheckRouteSaysWhatASubmitWouldWithoutQueueing() async throws {
        let s = try await Self.setup()
        try await Self.app(s).test(.router) { client in
            func check(_ body: String) async throws -> [String: Any] {
                let r = try await client.execute(uri: "/v1/workloads/check", method: .post, headers: [.authorization: "Bearer \(s.h.member)"],
                                                 body: ByteBuffer(string: body))
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                return try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
            }
            let ok = try await check(RouterTests.doc("fits"))
            #expect(ok["valid"] as? Bool == true && (ok["feasibility"] as? [String: Any])?["verdict"] as? String == "fitsNow", "\(ok)")
            let bad = try await check(RouterTests.doc("bad").replacingOccurrences(of: "size: ", with: "size: x"))
            #expect(bad["valid"] as? Bool == false && !((bad["diagnostics"] as? [[String: Any]]) ?? []).isEmpty, "\(bad)")
            let theirs = try await client.execute(uri: "/v1/workloads/check", method: .post, headers: [.authorization: "Bearer \(s.h.member)"],
                                                  body: ByteBuffer(string: RouterTests.doc("x", team: "ads")))
            #expect(theirs.status == .forbidden)
            #expect(await s.h.cp.list(WorkloadFilter(), by: Principal(tokenID: "t", name: "a", role: .admin, team: nil)).isEmpty, "nothing was queued")
        }
    }

    @Test func aFolderUploadedFromTheFormIsStoredByContentAndGoesWithTheSubmit() async throws {
        let s = try await Self.setup()
        let dir = try TemporaryDirectory(prefix: "tarmac-portal-workdir")
        let store = try WorkdirStore(root: dir.path + "/workdirs")
        try await Self.app(s, workdirs: store).test(.router) { client in
            let (cookie, _) = try await Self.signIn(client, s.h.member)
            let token = try #require(Self.csrf(try await Self.get(client, "/portal/new", cookie: cookie)))
            func upload(_ body: Data, csrf: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.cookie: cookie, .contentType: "application/x-tar", .origin: "http://localhost"]
                if let csrf { headers[HTTPField.Name("X-CSRF-Token")!] = csrf }
                return try await client.execute(uri: "/portal/workdir", method: .post, headers: headers, body: ByteBuffer(bytes: body))
            }
            // As a browser packs it: files only, in any order.
            let archive = try TarArchive.write([.init(path: "train.py", isDirectory: false, contents: Data("print(1)\n".utf8)),
                                                .init(path: "data/in.txt", isDirectory: false, contents: Data("x".utf8))])
            #expect(try await upload(archive, csrf: nil).status == .forbidden)
            #expect(try await upload(archive, csrf: "wrong").status == .forbidden)
            let bad = try await upload(Data(repeating: 7, count: 1024), csrf: token)
            #expect(bad.status == .unprocessableContent && String(buffer: bad.body).contains("damaged"))
            let ok = try await upload(archive, csrf: token)
            #expect(ok.status == .ok, "\(String(buffer: ok.body))")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(buffer: ok.body)) as? [String: Any])
            let digest = try #require(answer["digest"] as? String)
            #expect(store.has(digest) && answer["files"] as? Int == 2)
            // Stored with its parent directories: what a pod's supervisor unpacks.
            let kept = try TarArchive.read(try Data(contentsOf: URL(fileURLWithPath: try #require(store.path(digest)))), limit: 1 << 20)
            #expect(kept.map(\.path) == ["data", "data/in.txt", "train.py"] && kept[0].isDirectory)
            #expect((try JSONSerialization.jsonObject(with: Data(buffer: try await upload(archive, csrf: token).body)) as? [String: Any])?["digest"] as? String == digest,
                    "the same folder, the same digest")
            // The submit carries it: the workload's working directory is that digest.
            let form = "csrf=\(token)&action=submit&kind=TrainingJob&name=with-code&team=search&env=dev&size=cpu-small&image=registry.acme.example%2Ft%3A1"
                + "&command=python3+train.py&maxDuration=5m&workdir=\(digest)&workdir-name=code"
            let submitted = try await Self.post(client, "/portal/new", cookie: cookie, form: form)
            #expect(submitted.status == .seeOther, "\(String(buffer: submitted.body).suffix(600))")
            let e = try #require(await s.h.cp.list(WorkloadFilter(), by: Principal(tokenID: "t", name: "a", role: .admin, team: nil)).first { $0.name == "with-code" })
            #expect(e.workdir == digest)
            // A digest the server does not have is refused next to the field, and nothing is queued.
            let missing = "sha256:" + String(repeating: "0", count: 64)
            let refused = try await Self.post(client, "/portal/new", cookie: cookie, form: form.replacingOccurrences(of: "with-code", with: "other")
                .replacingOccurrences(of: digest, with: missing))
            #expect(refused.status == .unprocessableContent && String(buffer: refused.body).contains("is not on this server: choose it again"))
        }
    }

    /// A token's rate is one budget through the API and the portal: pages over it get 429 with Retry-After.
    @Test func pagesCountAgainstTheTokensRateLikeTheAPI() async throws {
        let s = try await Self.setup()
        try await Self.app(s, rateLimit: 0.01, burst: 3).test(.router) { client in
            let (cookie, _) = try await Self.signIn(client, s.h.member)
            #expect(try await Self.get(client, "/portal/sizes", cookie: cookie).status == .ok)
            let api = try await client.execute(uri: "/v1/whoami", method: .get, headers: [.authorization: "Bearer \(s.h.member)"])
            #expect(api.status == .ok)
            #expect(try await Self.get(client, "/portal/queue", cookie: cookie).status == .ok)
            let over = try await Self.get(client, "/portal/queue", cookie: cookie)
            #expect(over.status == .tooManyRequests && over.headers[.retryAfter] != nil, "\(over.status)")
            #expect(try await client.execute(uri: "/v1/whoami", method: .get, headers: [.authorization: "Bearer \(s.h.member)"]).status == .tooManyRequests)
            let (other, _) = try await Self.signIn(client, s.h.admin)
            #expect(try await Self.get(client, "/portal/queue", cookie: other).status == .ok, "another token has its own budget")
        }
    }

    /// Rollouts from the portal: a canary paused at 10% shows its phase and live weights; a viewer gets no buttons and
    /// its post is refused; what the runner refuses (aborting before the new version serves) is shown as it says it; a
    /// member aborts it with the page's form, through the runner's own rules (the API then says aborted).
    @Test func aRolloutIsSeenAndAbortedFromThePortal() async throws {
        let h = try await RolloutAPITests.harness(staging: "{}")
        let runner = RolloutRunner(controlPlane: h.cp, metrics: InferenceStats(), serving: { _ in true })
        _ = try await RolloutAPITests.serving(h, runner)
        let admin = Principal(tokenID: "t-admin", name: "admin", role: .admin, team: nil)
        let a = try await runner.start(service: "ranker", team: "search", to: "2.0.0",
                                       spec: try RolloutRunner.spec(RolloutRequest(service: "ranker", to: "2.0.0", steps: ["10", "pause"])), by: admin)
        let next = await runner.view(a).toWorkload
        var deps = ServerDependencies(controlPlane: h.cp, tokens: h.tokens, registry: PrometheusCollectorRegistry(), runsImages: false, rateLimit: 0, rollouts: runner)
        deps.portal = PortalSessions(clock: h.clock)
        try await Application(router: buildRouter(deps)).test(.router) { client in
            let (member, _) = try await Self.signIn(client, h.member)
            // Before the new version serves: the runner refuses, and the page says why.
            let early = try await Self.get(client, "/portal/rollouts", cookie: member)
            #expect(String(buffer: early.body).contains("<span class=\"state\">starting</span>"))
            let refused = try await Self.post(client, "/portal/rollouts/ranker/abort?team=search", cookie: member, form: "csrf=\(try #require(Self.csrf(early)))")
            #expect(refused.status == .unprocessableContent && String(buffer: refused.body).contains("is not serving yet"))
            // The new version runs: the canary takes 10% and pauses.
            try await eventually("the canary pauses at 10%") {
                await h.cp.tick()
                h.backend.start(next, attempt: 1)
                await runner.tick()
                return await runner.view(try await runner.status(service: "ranker", team: "search", by: admin)).phase == "paused"
            }
            let (viewer, _) = try await Self.signIn(client, h.viewer)
            let seen = try await Self.get(client, "/portal/rollouts", cookie: viewer)
            let html = String(buffer: seen.body)
            #expect(seen.status == .ok && html.contains("search/ranker") && html.contains("ranker@1.0.0 → ranker@2.0.0"), "\(html.suffix(1500))")
            #expect(html.contains("<td>90%</td>") && html.contains("<td>10%</td>"), "live weights")
            #expect(!html.contains("/portal/rollouts/ranker/abort"), "a viewer gets no buttons")
            let denied = try await Self.post(client, "/portal/rollouts/ranker/abort?team=search", cookie: viewer, form: "csrf=\(try #require(Self.csrf(seen)))")
            #expect(denied.status == .forbidden, "\(denied.status)")
            let page = try await Self.get(client, "/portal/rollouts", cookie: member)
            let done = try await Self.post(client, "/portal/rollouts/ranker/abort?team=search", cookie: member, form: "csrf=\(try #require(Self.csrf(page)))")
            #expect(done.status == .ok && String(buffer: done.body).contains("ranker: aborted"), "\(done.status)")
            #expect(await runner.view(try await runner.status(service: "ranker", team: "search", by: admin)).phase == "aborted")
            let (outsider, _) = try await Self.signIn(client, h.outsider)
            #expect(!String(buffer: try await Self.get(client, "/portal/rollouts", cookie: outsider).body).contains("search/ranker"), "another team sees none of it")
        }
    }
}
