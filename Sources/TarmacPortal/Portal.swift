import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TarmacAPI
import TarmacCore
import TarmacRuntime
import TarmacWorkdir

/// What the portal is built from: the same control plane and tokens as the API.
public struct PortalDependencies: Sendable {
    public var controlPlane: ControlPlane
    public var tokens: Tokens
    public var sessions: PortalSessions
    /// Whether the backend runs images (Kubernetes) or commands (local processes): as for the API's submit.
    public var runsImages: Bool
    /// Mark the session cookie `Secure` (the portal is reached over TLS, e.g. behind an HTTPS proxy). Also set for a
    /// request that came with `X-Forwarded-Proto: https`.
    public var secureCookies: Bool
    /// The model registry (nil: no Models page).
    public var models: ModelRegistry?
    /// Rollouts of InferenceServices (nil: no Rollouts page; they need the inference gateway).
    public var rollouts: RolloutRunner?
    /// The audit anchor file the Audit page's verification checks the chain against.
    public var auditAnchors: String?
    /// Where uploaded working directories are kept (nil: the form takes none).
    public var workdirs: WorkdirStore?
    /// The API's per-token rate limiter: a page or a form counts against the same token's budget as an API call (nil:
    /// unlimited).
    public var limiter: RateLimiter<ContinuousClock>?

    public init(controlPlane: ControlPlane, tokens: Tokens, sessions: PortalSessions, runsImages: Bool, secureCookies: Bool = false,
                models: ModelRegistry? = nil, rollouts: RolloutRunner? = nil, auditAnchors: String? = nil, workdirs: WorkdirStore? = nil,
                limiter: RateLimiter<ContinuousClock>? = nil) {
        self.limiter = limiter
        self.workdirs = workdirs
        self.models = models
        self.rollouts = rollouts
        self.auditAnchors = auditAnchors
        self.controlPlane = controlPlane
        self.tokens = tokens
        self.sessions = sessions
        self.runsImages = runsImages
        self.secureCookies = secureCookies
    }
}

/// Who is signed in on a request: the session and the principal its token stands for now.
struct SignedIn: Sendable {
    var id: String
    var session: PortalSessions.Session
    var principal: Principal
    /// The pages in the navigation for this caller: those of capabilities this server has, and that the caller may use.
    var pages: [(href: String, label: String)] = []
}

/// The portal: server-rendered pages under /portal, over the control plane's own functions (what the API calls).
/// Generic over the router's context: it needs nothing of it, it authenticates with its session cookie.
public struct Portal<Context: RequestContext>: Sendable {
    let deps: PortalDependencies
    static var cookie: String { "tarmac_session" }

    public init(_ deps: PortalDependencies) { self.deps = deps }

    public func register(_ router: Router<Context>) {
        router.get("portal") { _, _ in Self.redirect("/portal/workloads") }
        let g = router.group("portal")
        g.get("assets/portal.css") { _, _ in Self.asset(PortalAssets.css, type: "text/css; charset=utf-8") }
        g.get("assets/portal.js") { _, _ in Self.asset(PortalAssets.js, type: "text/javascript; charset=utf-8") }
        g.get("signin") { req, _ in await signInPage(req) }
        g.post("signin") { req, ctx in await signIn(req, ctx) }
        g.get("link") { req, _ in await redeem(req) }
        g.post("signout") { req, ctx in await signOut(req, ctx) }
        g.get("sizes") { req, _ in await page(req) { s in try await sizes(req, s) } }
        g.get("new") { req, _ in await page(req) { s in newPage(s, form: WorkloadForm.initial(for: s.principal, contract: deps.controlPlane.contract), check: nil) } }
        g.post("new/check") { req, ctx in await post(req, ctx) { s, form in try await checkJSON(req, s, form) } }
        g.post("new") { req, ctx in await post(req, ctx) { s, form in try await submit(req, s, form) } }
        g.post("workdir") { req, ctx in await uploadWorkdir(req, ctx) }
        g.get("workloads") { req, _ in await page(req) { s in try await workloads(req, s) } }
        g.get("workloads/:id") { req, ctx in await page(req) { s in try await workload(req, ctx, s) } }
        g.get("workloads/:id/logs") { req, ctx in await page(req) { s in try await logs(req, ctx, s) } }
        g.post("workloads/:id/cancel") { req, ctx in await post(req, ctx) { s, _ in try await cancel(req, ctx, s) } }
        g.get("queue") { req, _ in await page(req) { s in try await queue(s) } }
        g.get("models") { req, _ in await page(req) { s in try await models(req, s) } }
        g.get("models/:model") { req, ctx in await page(req) { s in try await model(req, ctx, s, promotion: nil) } }
        g.post("models/:model/promote") { req, ctx in await post(req, ctx) { s, form in try await promote(req, ctx, s, form) } }
        g.get("rollouts") { req, _ in await page(req) { s in try await rollouts(req, s) } }
        g.post("rollouts/:service/:action") { req, ctx in await post(req, ctx) { s, form in try await rolloutAction(req, ctx, s, form) } }
        g.get("costs") { req, _ in await page(req) { s in try await costs(req, s) } }
        g.get("audit") { req, _ in await page(req) { s in try await audit(req, s) } }
        g.get("events") { req, _ in await events(req) }
    }

    // MARK: sessions

    /// The signed-in caller, if the session cookie names a live session whose token is still valid.
    func signedIn(_ request: Request) async -> SignedIn? {
        guard let id = request.cookies[Self.cookie]?.value, let s = deps.sessions.session(id) else { return nil }
        guard let principal = try? await deps.tokens.principal(hash: s.tokenHash) else {
            deps.sessions.close(id)
            return nil
        }
        var pages: [(href: String, label: String)] = [("/portal/workloads", "My workloads"), ("/portal/new", "New workload"), ("/portal/sizes", "Sizes"),
                                                      ("/portal/queue", "Queue")]
        if deps.models != nil { pages.append(("/portal/models", "Models")) }
        if deps.rollouts != nil { pages.append(("/portal/rollouts", "Rollouts")) }
        pages.append(("/portal/costs", "Costs"))
        if Access.allows(principal, .readAudit) { pages.append(("/portal/audit", "Audit")) }
        return SignedIn(id: id, session: s, principal: principal, pages: pages)
    }

    /// A page behind sign-in: without a session, to the sign-in page (and back here after it).
    func page(_ request: Request, _ body: (SignedIn) async throws -> Response) async -> Response {
        guard let s = await signedIn(request) else {
            let back = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return Self.redirect("/portal/signin?next=" + Self.query(back))
        }
        if let slow = tooMany(s) { return slow }
        do { return try await body(s) } catch { return errorPage(error, signed: s) }
    }

    /// A form post behind sign-in: the session, its CSRF token in the form, and a same-origin request, or 403.
    func post(_ request: Request, _ context: Context, _ body: (SignedIn, [String: String]) async throws -> Response) async -> Response {
        if let refused = Self.crossOrigin(request) { return refused }
        guard let s = await signedIn(request) else {
            return Self.html(ErrorPage.render(status: .unauthorized, message: "You are not signed in (or your session ended). Sign in again.", frame: Frame(title: "Signed out")),
                             status: .unauthorized)
        }
        if let slow = tooMany(s) { return slow }
        let form: [String: String]
        do { form = try await Self.form(request, context) } catch { return errorPage(error, signed: s) }
        guard let sent = form["csrf"], Self.same(sent, s.session.csrf) else {
            return Self.html(ErrorPage.render(status: .forbidden, message: "This form was refused: its CSRF token is missing or wrong. Reload the page and try again.",
                                              frame: Frame(title: "Refused", signed: s)), status: .forbidden)
        }
        do { return try await body(s, form) } catch { return errorPage(error, signed: s) }
    }

    /// Over the token's rate (the API's limiter, keyed by the token): 429 with Retry-After, as the API answers.
    func tooMany(_ s: SignedIn) -> Response? {
        guard let wait = deps.limiter?.take(s.principal.tokenID) else { return nil }
        let seconds = Int(wait.rounded(.up))
        return Self.html(ErrorPage.render(status: .tooManyRequests, message: "Too many requests for this token; retry in \(seconds) s.", frame: Frame(title: "Slow down", signed: s)),
                         status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
    }

    /// A request from another site is refused before anything else: its `Origin` (or, without one, `Sec-Fetch-Site`)
    /// must be this server's. Browsers send `Origin` on every cross-origin POST.
    static func crossOrigin(_ request: Request) -> Response? {
        let host = request.head.authority ?? ""
        if let origin = request.headers[.origin] {
            let ok = origin != "null" && (origin == "http://" + host || origin == "https://" + host)
            if !ok { return forbidden("This request came from another site (\(origin)) and was refused.") }
        } else if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" {
            return forbidden("This request came from another site and was refused.")
        }
        return nil
    }

    static func forbidden(_ message: String) -> Response {
        html(ErrorPage.render(status: .forbidden, message: message, frame: Frame(title: "Refused")), status: .forbidden)
    }

    /// Constant-time comparison of two secrets.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }

    func sessionCookie(_ id: String, request: Request, maxAge: Int?) -> String {
        let secure = deps.secureCookies || request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
        var c = "\(Self.cookie)=\(id); Path=/portal; HttpOnly; SameSite=Strict"
        if let maxAge { c += "; Max-Age=\(maxAge)" }
        if secure { c += "; Secure" }
        return c
    }

    // MARK: responses

    static func html(_ body: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var h: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .cacheControl: "no-store",
            HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "same-origin",
            HTTPField.Name("X-Frame-Options")!: "DENY",
        ]
        h.append(contentsOf: extra)
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? APIJSON.encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func redirect(_ to: String, headers extra: HTTPFields = [:]) -> Response {
        var h: HTTPFields = [.location: to, .cacheControl: "no-store"]
        h.append(contentsOf: extra)
        return Response(status: .seeOther, headers: h)
    }

    /// An error as a page: the control plane's codes as statuses, its message as it says it.
    func errorPage(_ error: any Error, signed: SignedIn?) -> Response {
        let status: HTTPResponse.Status, message: String
        if let e = error as? RuntimeError {
            message = e.message
            switch e.code {
            case .invalid: status = .unprocessableContent
            case .notFound: status = .notFound
            case .conflict: status = .conflict
            case .forbidden: status = .forbidden
            case .unauthorized: status = .unauthorized
            case .unavailable: status = .serviceUnavailable
            case .internalError: status = .internalServerError
            }
        } else if let e = error as? PortalError {
            (status, message) = (e.status, e.message)
        } else {
            (status, message) = (.internalServerError, "something went wrong on the server: \(error)")
        }
        return Self.html(ErrorPage.render(status: status, message: message, frame: Frame(title: status.reasonPhrase, signed: signed)), status: status)
    }

    /// The url-encoded body of a form (at most 256 KiB).
    static func form(_ request: Request, _ context: Context) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 256 << 10)
        return parseForm(String(buffer: body))
    }

    static func parseForm(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            let key = decode(kv[0])
            if out[key] == nil { out[key] = kv.count > 1 ? decode(kv[1]) : "" }
        }
        return out
    }

    static func query(_ s: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// A portal-level refusal (a bad form field, a page that is not there).
struct PortalError: Error {
    var status: HTTPResponse.Status
    var message: String
}
