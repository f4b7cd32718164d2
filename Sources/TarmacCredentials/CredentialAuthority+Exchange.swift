import TarmacCore
import Foundation
import TarmacAPI
import TarmacIdentity
import TarmacModel

/// Token exchange (RFC 8693) at `POST /v1/token`.
extension CredentialAuthority {
    public struct IssuedToken: Sendable {
        public var token: String
        public var expiresIn: Int
        public var scopes: [String]
        public var claims: AccessTokenClaims
    }

    /// Decides an exchange request. `person` resolves a person's API token (nil: unknown, revoked, expired).
    public func exchange(_ r: TokenExchangeRequest, person: @Sendable (String) async -> Principal?) async -> Result<IssuedToken, OAuthError> {
        let now = clock.now
        guard let grantType = r.grant_type else { return .failure(OAuthError(.invalidRequest, "grant_type is required (\(TokenExchange.grantType))")) }
        guard grantType == TokenExchange.grantType else {
            return .failure(OAuthError(.unsupportedGrantType, "grant_type '\(grantType.prefix(100))' is not supported; use \(TokenExchange.grantType)"))
        }
        guard let subjectToken = r.subject_token, !subjectToken.isEmpty else { return .failure(OAuthError(.invalidRequest, "subject_token is required")) }
        guard let subjectType = r.subject_token_type else { return .failure(OAuthError(.invalidRequest, "subject_token_type is required")) }
        guard [TokenExchange.accessTokenType, TokenExchange.jwtTokenType].contains(subjectType) else {
            return .failure(OAuthError(.invalidRequest, "subject_token_type must be \(TokenExchange.accessTokenType) or \(TokenExchange.jwtTokenType)"))
        }
        if let t = r.actor_token_type, t != TokenExchange.jwtTokenType {
            return .failure(OAuthError(.invalidRequest, "actor_token_type must be \(TokenExchange.jwtTokenType) (a JWT-SVID)"))
        }
        if r.actor_token != nil && r.actor_token_type == nil {
            return .failure(OAuthError(.invalidRequest, "actor_token_type is required with actor_token"))
        }
        let platform = controlPlane.platform
        // The one tool the token is for: `audience` (its name) or `resource` (its endpoint or gateway address).
        let toolName: String
        switch (r.audience, r.resource) {
        case (let a?, nil): toolName = a
        case (nil, let r?):
            guard let t = platform.tools.values.first(where: { $0.endpoint == r || r.hasSuffix("/" + $0.name) }) else {
                return .failure(OAuthError(.invalidTarget, "no tool has resource '\(r.prefix(200))'"))
            }
            toolName = t.name
        case (.some, .some): return .failure(OAuthError(.invalidTarget, "give audience or resource, not both: a token is for one tool"))
        case (nil, nil): return .failure(OAuthError(.invalidTarget, "audience (a tool's name) is required: a token is for one tool"))
        }
        guard !toolName.contains(" ") else { return .failure(OAuthError(.invalidTarget, "one tool per token; '\(toolName.prefix(100))' names several")) }
        let requested = r.scope.map { $0.split(separator: " ").map(String.init) }.flatMap { $0.isEmpty ? nil : $0 }

        // Who acts (an agent's JWT-SVID) and for whom.
        var subject: TokenExchange.Subject
        var actorSVID: String?
        if subjectToken.hasPrefix("tmc_") {
            guard let p = await person(subjectToken) else { return .failure(OAuthError(.invalidGrant, "the subject_token is unknown, revoked or expired")) }
            subject = .person(name: p.name, isAdmin: p.role == .admin, mayChangeTeam: { p.canChange(team: $0) }, expiresAt: nil)
            actorSVID = r.actor_token
            guard actorSVID != nil else {
                return .failure(OAuthError(.invalidRequest, "an agent acting for a person presents its JWT-SVID as actor_token"))
            }
        } else if let typ = TokenKeys.unverifiedType(subjectToken), typ.lowercased() == "at+jwt" {
            do {
                let earlier = try await keys.verify(subjectToken, as: AccessTokenClaims.self, typ: "at+jwt", now: now)
                let live = await isLive(earlier.tarmac)
                guard live else {
                    return .failure(OAuthError(.invalidGrant, "the agent the subject_token was issued to no longer runs"))
                }
                subject = .delegated(earlier)
            } catch {
                return .failure(OAuthError(.invalidGrant, "the subject_token was refused: \(error)"))
            }
            actorSVID = r.actor_token
            guard actorSVID != nil else { return .failure(OAuthError(.invalidRequest, "the agent acting after another presents its JWT-SVID as actor_token")) }
        } else {
            subject = .itself
            if let a = r.actor_token, a != subjectToken {
                return .failure(OAuthError(.invalidRequest, "with a JWT-SVID as subject_token the agent acts in its own name: leave actor_token out"))
            }
            actorSVID = subjectToken
        }
        let svid: SVIDClaims
        switch await verifySVID(actorSVID ?? "", now: now) {
        case .failure(let e): return .failure(e)
        case .success(let c): svid = c
        }
        guard let (entry, details) = await controlPlane.agent(svid.tarmac.wid) else {
            return .failure(OAuthError(.unauthorizedClient, "\(svid.sub) is not an agent: only Agents exchange tokens for tools"))
        }
        do { try await ensureGrants(entry.id) } catch {
            return .failure(OAuthError(.invalidRequest, "could not record the agent's grants: \(error)"))
        }
        let agent = TokenExchange.Agent(spiffeID: svid.sub, workload: svid.tarmac, name: entry.name, details: details)
        let decision: TokenExchange.Decision
        let maxLifetime = Double(platform.identity.maxTokenLifetime.seconds)
        // A token for a tool (its grants decide the scopes) or for one of the agent's team's InferenceServices.
        let service = TokenExchange.service(of: toolName)
        let decided = service == nil
            ? TokenExchange.decide(subject: subject, agent: agent, toolName: toolName, tool: platform.tools[toolName], requested: requested,
                                   grants: state.grants(of: entry.id), maxLifetime: maxLifetime, now: now)
            : TokenExchange.decideService(subject: subject, agent: agent, audience: toolName, requested: requested, maxLifetime: maxLifetime, now: now)
        switch decided {
        case .failure(let e): return .failure(e)
        case .success(let d): decision = d
        }
        let claims = AccessTokenClaims(iss: issuer, sub: decision.subject, aud: [toolName], exp: Int64(decision.expiresAt.timeIntervalSince1970),
                                       iat: Int64(now.timeIntervalSince1970), jti: UUID().uuidString.lowercased(), scope: decision.scopes,
                                       act: decision.act, clientID: svid.sub, tarmac: svid.tarmac)
        let token: String
        do { token = try await keys.sign(claims, typ: "at+jwt") } catch {
            return .failure(OAuthError(.invalidRequest, "could not sign: \(error)"))
        }
        let actor = Self.actor(of: claims)
        do {
            try await store.appendAudit([AuditDraft(time: now, actor: actor, action: "token-exchange", object: service.map { "service/\($0.team)/\($0.service)" } ?? "tool/\(toolName)",
                                                    detail: "scope \(claims.scope) until \(ISO8601DateFormatter().string(from: decision.expiresAt)) jti \(claims.jti)",
                                                    workload: svid.tarmac.wid)])
        } catch {
            return .failure(OAuthError(.invalidRequest, "could not record the exchange: \(error)"))
        }
        return .success(IssuedToken(token: token, expiresIn: max(1, Int(decision.expiresAt.timeIntervalSince(now).rounded(.down))), scopes: decision.scopes, claims: claims))
    }

    /// Who a token speaks for, as the audit trail names it: `agent-for:PERSON via AGENT[ via AGENT...]`, or the
    /// agent's own `workload:` identity.
    public static func actor(of c: AccessTokenClaims) -> AuditActor {
        guard let act = c.act else { return AuditActor(kind: .workload, id: c.sub) }
        return AuditActor(kind: .agentFor, id: ([c.sub] + act.chain).joined(separator: " via "))
    }
}
