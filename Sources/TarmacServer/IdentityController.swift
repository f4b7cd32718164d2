import TarmacCore
import Foundation
import Hummingbird
import Metrics
import NIOCore
import TarmacAPI
import TarmacCredentials
import TarmacIdentity
import TarmacRuntime

/// Workload and agent identity on the API: the public documents (JWKS, OpenID configuration), a pod's JWT-SVIDs
/// (`POST /v1/identity`), token exchange (`POST /v1/token`, RFC 8693), and, behind tokens, grants, who-can and key rotation.
struct IdentityController {
    let authority: CredentialAuthority
    let tokens: Tokens
    /// Where tools' protected-resource metadata is served (the gateway), for the discovery document.
    let gatewayURL: String?

    /// Routes that authenticate themselves (their credentials are in the body, not a bearer token).
    func registerPublic(_ router: Router<TarmacRequestContext>) {
        router.get(".well-known/jwks.json", use: jwks)
        router.get(".well-known/openid-configuration", use: discovery)
        router.post("v1/identity", use: identity)
        router.post("v1/token", use: exchange)
    }

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("grants", use: listGrants)
        group.post("grants/:id/approve", use: { try await decide($0, $1, "approve") })
        group.post("grants/:id/deny", use: { try await decide($0, $1, "deny") })
        group.post("grants/:id/revoke", use: { try await decide($0, $1, "revoke") })
        group.get("who-can", use: whoCan)
        group.post("keys/rotate", use: rotate)
    }

    static let noStore: HTTPFields = [.cacheControl: "no-store"]

    @Sendable func jwks(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        // Cached briefly: a verifier refetches soon after a rotation.
        try JSON.response(authority.jwks(), headers: [.cacheControl: "max-age=60"])
    }

    @Sendable func discovery(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        struct Discovery: Encodable {
            var issuer: String
            var jwks_uri: String
            var token_endpoint: String
            var grant_types_supported: [String]
            var id_token_signing_alg_values_supported: [String]
            var token_endpoint_auth_methods_supported: [String]
            var subject_types_supported: [String]
            var response_types_supported: [String]
        }
        let i = authority.issuer
        return try JSON.response(Discovery(issuer: i, jwks_uri: i + "/.well-known/jwks.json", token_endpoint: i + "/v1/token",
                                           grant_types_supported: [TokenExchange.grantType], id_token_signing_alg_values_supported: ["ES256"],
                                           token_endpoint_auth_methods_supported: ["none"], subject_types_supported: ["public"],
                                           response_types_supported: ["token"]))
    }

    @Sendable func identity(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 << 10)
        let req = try StrictBody.decode(SVIDRequest.self, from: Data(buffer: body), known: ["bootstrap", "serviceAccountToken", "svid", "audience"],
                                        example: "{\"bootstrap\": \"<content of TARMAC_IDENTITY_BOOTSTRAP_FILE>\"}, {\"serviceAccountToken\": \"<content of TARMAC_IDENTITY_TOKEN_FILE>\"} or {\"svid\": \"<current JWT-SVID>\"}",
                                        types: "bootstrap, serviceAccountToken and svid must be strings, audience a list of strings")
        let result: Result<CredentialAuthority.IssuedSVID, OAuthError>
        switch (req.bootstrap, req.serviceAccountToken, req.svid) {
        case (let b?, nil, nil): result = await authority.redeem(bootstrap: b, audience: req.audience)
        case (nil, let t?, nil): result = await authority.redeem(serviceAccountToken: t, audience: req.audience)
        case (nil, nil, let s?): result = await authority.renew(svid: s, audience: req.audience)
        default: throw APIError(.badRequest, code: "badRequest", "give exactly one of bootstrap, serviceAccountToken and svid")
        }
        switch result {
        case .success(let s): return try JSON.response(SVIDView(spiffeID: s.spiffeID, svid: s.token, expiresAt: s.expiresAt), headers: Self.noStore)
        case .failure(let e): throw APIError(.unauthorized, code: "unauthenticated", e.description)
        }
    }

    @Sendable func exchange(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            return try Self.oauthError(OAuthError(.invalidRequest, "the body must be application/x-www-form-urlencoded (RFC 8693 §2.1)"))
        }
        let body = try await request.body.collect(upTo: 64 << 10)
        let form: [String: String]
        switch Self.parseForm(String(decoding: body.readableBytesView, as: UTF8.self)) {
        case .failure(let e): return try Self.oauthError(e)
        case .success(let f): form = f
        }
        let tokens = self.tokens
        switch await authority.exchange(TokenExchangeRequest(form: form), person: { secret in try? await tokens.authenticate(secret) }) {
        case .failure(let e):
            Counter(label: "tarmac_token_exchanges_total", dimensions: [("result", e.code.rawValue), ("actor_kind", "none")]).increment()
            return try Self.oauthError(e)
        case .success(let t):
            Counter(label: "tarmac_token_exchanges_total", dimensions: [("result", "issued"), ("actor_kind", CredentialAuthority.actor(of: t.claims).kind.rawValue)]).increment()
            return try JSON.response(TokenExchangeResponse(access_token: t.token, issued_token_type: TokenExchange.accessTokenType, token_type: "Bearer",
                                                           expires_in: t.expiresIn, scope: t.scopes.joined(separator: " ")),
                                     headers: Self.noStore)
        }
    }

    static func oauthError(_ e: OAuthError) throws -> Response {
        try JSON.response(OAuthErrorBody(error: e.code.rawValue, error_description: e.description),
                          status: e.status == 401 ? .unauthorized : .badRequest, headers: noStore)
    }

    /// `application/x-www-form-urlencoded`: `+` is a space, then percent-decoding; a parameter given twice is an error
    /// (RFC 6749 §3.2).
    static func parseForm(_ text: String) -> Result<[String: String], OAuthError> {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = String(kv[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
                  let v = String(kv.count > 1 ? kv[1] : "").replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                return .failure(OAuthError(.invalidRequest, "the form is not valid percent-encoding"))
            }
            guard out[k] == nil else { return .failure(OAuthError(.invalidRequest, "parameter '\(k.prefix(64))' is given more than once")) }
            out[k] = v
        }
        return .success(out)
    }

    // MARK: Grants

    static func view(_ g: Grant, now: Date) -> GrantView {
        GrantView(id: g.id, agent: g.agent, agentName: g.agentName, workload: g.workload, team: g.team, env: g.env, tool: g.tool, scope: g.scope,
                  onBehalfOf: g.onBehalfOf, requestedBy: g.requestedBy, approvers: g.approvers, state: g.displayState(at: now), decidedBy: g.decidedBy,
                  decidedAt: g.decidedAt, reason: g.reason, createdAt: g.createdAt, expiresAt: g.expiresAt)
    }

    @Sendable func listGrants(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        let states = ["pending", "approved", "expired", "denied", "revoked", "ended"]
        if let s = q.get("state"), !states.contains(s) {
            throw APIError(.badRequest, code: "badRequest", "state must be one of \(states.joined(separator: ", "))")
        }
        let f = CredentialAuthority.GrantFilter(tool: q.get("tool"), scope: q.get("scope"), state: q.get("state"), workload: q.get("agent"))
        let now = authority.now
        return try JSON.response(GrantList(items: authority.grants(f, by: p).map { Self.view($0, now: now) }))
    }

    func decide(_ request: Request, _ context: TarmacRequestContext, _ verb: String) async throws -> Response {
        let p = try context.caller()
        let id = try context.parameters.require("id")
        let body = try await request.body.collect(upTo: 64 << 10)
        let req = body.readableBytes == 0 ? GrantDecisionRequest()
            : try StrictBody.decode(GrantDecisionRequest.self, from: Data(buffer: body), known: ["lifetimeSeconds", "reason"],
                                    example: "{\"lifetimeSeconds\": 3600} (approve) or {\"reason\": \"...\"} (deny, revoke), or no body",
                                    types: "lifetimeSeconds must be a number, reason a string")
        if let l = req.lifetimeSeconds, !(l > 0 && l <= 365 * 86400) {
            throw APIError(.unprocessableContent, code: "invalid", "lifetimeSeconds must be positive and at most a year")
        }
        let decision: CredentialAuthority.Decision = switch verb {
        case "approve": .approve(lifetime: req.lifetimeSeconds)
        case "deny": .deny(reason: req.reason)
        default: .revoke(reason: req.reason)
        }
        return try JSON.response(Self.view(try await authority.decide(id, decision, by: p), now: authority.now))
    }

    @Sendable func whoCan(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        guard let tool = request.uri.queryParameters.get("tool"), !tool.isEmpty else {
            throw APIError(.badRequest, code: "badRequest", "tool is required: /v1/who-can?tool=tickets[&scope=read]")
        }
        let now = authority.now
        return try JSON.response(GrantList(items: authority.whoCan(tool: tool, scope: request.uri.queryParameters.get("scope"), by: p).map { Self.view($0, now: now) }))
    }

    @Sendable func rotate(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        try Access.require(p, .rotateKeys)
        let key = try await authority.rotate(by: p.actor, reason: "rotated by \(p.name)")
        return try JSON.response(KeyRotationView(kid: key.kid, published: authority.jwks().keys.map(\.kid)))
    }
}
