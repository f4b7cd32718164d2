import Foundation
import HTTPTypes
import Hummingbird
import TarmacCore

/// Sign-in with an API token or a one-time link (`tarmac portal-link`, or the one `tarmac up` prints), and sign-out.
extension Portal {
    func signInPage(_ request: Request, message: String? = nil, status: HTTPResponse.Status = .ok) async -> Response {
        let q = request.uri.queryParameters
        let next = Self.safeNext(q.get("next"))
        let note = q.get("out") != nil ? "You are signed out." : nil
        return Self.html(SignInPage.render(SignInPage(frame: Frame(title: "Sign in"), next: next, message: message, note: note)), status: status)
    }

    func signIn(_ request: Request, _ context: Context) async -> Response {
        if let refused = Self.crossOrigin(request) { return refused }
        let form = (try? await Self.form(request, context)) ?? [:]
        let secret = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let next = Self.safeNext(form["next"])
        guard !secret.isEmpty, (try? await deps.tokens.authenticate(secret)) ?? nil != nil else {
            let message = secret.isEmpty ? "Enter an API token (tmc_…): `tarmac token create` makes one, or use a sign-in link from `tarmac portal-link`."
                : "That token is unknown, revoked or expired."
            return Self.html(SignInPage.render(SignInPage(frame: Frame(title: "Sign in"), next: next, message: message, note: nil)), status: .unauthorized)
        }
        return start(tokenHash: APIToken.hashOf(secret), request: request, next: next)
    }

    func redeem(_ request: Request) async -> Response {
        guard let code = request.uri.queryParameters.get("code"), let hash = deps.sessions.redeem(code),
              (try? await deps.tokens.principal(hash: hash)) ?? nil != nil else {
            return Self.html(SignInPage.render(SignInPage(frame: Frame(title: "Sign in"), next: "/portal/workloads",
                                                          message: "This sign-in link was used already, has expired, or its token was revoked. Run `tarmac portal-link` for a new one.", note: nil)),
                             status: .unauthorized)
        }
        return start(tokenHash: hash, request: request, next: "/portal/workloads")
    }

    func start(tokenHash: String, request: Request, next: String) -> Response {
        let (id, _) = deps.sessions.open(tokenHash: tokenHash)
        return Self.redirect(next, headers: [.setCookie: sessionCookie(id, request: request, maxAge: Int(deps.sessions.settings.maxAge))])
    }

    func signOut(_ request: Request, _ context: Context) async -> Response {
        await post(request, context) { s, _ in
            deps.sessions.close(s.id)
            return Self.redirect("/portal/signin?out=1", headers: [.setCookie: sessionCookie("", request: request, maxAge: 0)])
        }
    }

    /// Only a path of the portal itself: never another host (`//evil`, `https://...`).
    static func safeNext(_ next: String?) -> String {
        guard let n = next, n.hasPrefix("/portal/"), !n.hasPrefix("//"), !n.contains("\\"), !n.contains("\n"), !n.contains("\r") else { return "/portal/workloads" }
        return n
    }
}

struct SignInPage {
    var frame: Frame
    var next: String
    var message: String?
    var note: String?

    static func render(_ p: SignInPage) -> String { PortalTemplates.render("signin", p) }

    static let template = """
    {{>header}}
    {{#note}}<p class="notice" role="status">{{note}}</p>{{/note}}
    {{#message}}<p class="notice bad" role="alert" id="signin-error">{{message}}</p>{{/message}}
    <form method="post" action="/portal/signin" class="card">
    <input type="hidden" name="next" value="{{next}}">
    <div class="field">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required aria-describedby="token-hint">
    <p class="hint" id="token-hint">A token from <code>tarmac token create</code>, or the one <code>tarmac up</code> printed. Or open a one-time link from <code>tarmac portal-link</code>.</p>
    </div>
    <button type="submit" class="primary">Sign in</button>
    </form>
    {{>footer}}
    """
}

struct ErrorPage {
    var frame: Frame
    var status: Int
    var message: String

    static func render(status: HTTPResponse.Status, message: String, frame: Frame) -> String {
        PortalTemplates.render("error", ErrorPage(frame: frame, status: status.code, message: message))
    }

    static let template = """
    {{>header}}
    <p class="notice bad" role="alert"><strong>{{status}}</strong> · <span id="error-message">{{message}}</span></p>
    <p><a href="/portal/workloads">Back to my workloads</a></p>
    {{>footer}}
    """
}
