import Foundation
import Hummingbird
import TarmacAPI
import TarmacPortal

/// /v1/portal/links: a one-time link that signs the browser that opens it into the portal as the caller (the token
/// that asked). It works once, for ten minutes; the session it opens ends with that token's revocation.
struct PortalLinkController {
    let sessions: PortalSessions

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.post("portal/links", use: create)
    }

    @Sendable func create(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        _ = try context.caller()
        guard let hash = context.tokenHash else { throw APIError(.forbidden, code: "forbidden", "a sign-in link is made for an API token") }
        let (code, expires) = sessions.link(tokenHash: hash)
        let base = request.head.authority.map { "http://" + $0 } ?? ""
        return try JSON.response(PortalLinkView(url: "\(base)/portal/link?code=\(code)", expiresAt: expires), status: .created)
    }
}
