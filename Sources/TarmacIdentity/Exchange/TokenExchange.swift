import Foundation
import TarmacModel

/// The rules of token exchange (RFC 8693) as one pure function: who the token is for, what it may do, how long.
public enum TokenExchange {
    public static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    public static let jwtTokenType = "urn:ietf:params:oauth:token-type:jwt"
    /// The longest chain of agents a token may name (`act` nested this deep).
    public static let maxChain = 8

    /// Who the token will be about.
    public enum Subject: Sendable {
        /// A person's API token: the agent acts for them.
        case person(name: String, isAdmin: Bool, mayChangeTeam: @Sendable (String) -> Bool, expiresAt: Date?)
        /// The agent's own JWT-SVID: it acts in its own name.
        case itself
        /// A token another agent obtained for a person (for the same tool): this agent acts after it.
        case delegated(AccessTokenClaims)
    }

    /// The agent asking, as its SVID and the control plane know it.
    public struct Agent: Sendable {
        public var spiffeID: String
        public var workload: WorkloadClaim
        public var name: String
        public var details: AgentDetails
        public init(spiffeID: String, workload: WorkloadClaim, name: String, details: AgentDetails) {
            self.spiffeID = spiffeID
            self.workload = workload
            self.name = name
            self.details = details
        }
    }

    public struct Decision: Sendable, Hashable {
        public var subject: String
        public var act: ActorClaim?
        public var scopes: [String]
        public var expiresAt: Date
    }

    /// Decides a request for `toolName` with `requested` scopes (nil: every scope the agent holds for the tool).
    /// The scopes issued are within the agent's active grants, the person's rights and (delegated) the earlier token's.
    public static func decide(subject: Subject, agent: Agent, toolName: String, tool: Tool?, requested: [String]?, grants: [Grant],
                              maxLifetime: TimeInterval, now: Date) -> Result<Decision, OAuthError> {
        guard let tool else {
            return .failure(OAuthError(.invalidTarget, "no tool named '\(toolName)' in the platform contract"))
        }
        guard let asked = agent.details.tools[toolName] else {
            return .failure(OAuthError(.invalidTarget, "agent \(agent.name) did not ask for tool '\(toolName)' (its tools: \(agent.details.tools.keys.sorted().joined(separator: ", ")))"))
        }
        let mine = grants.filter { $0.workload == agent.workload.wid && $0.tool == toolName }
        let scopes = requested ?? asked.filter { s in mine.contains { $0.scope == s && $0.active(at: now) } }
        guard !scopes.isEmpty else {
            return .failure(OAuthError(.invalidScope, "agent \(agent.name) holds no active grant for tool '\(toolName)'" + pendingNote(mine, now: now)))
        }
        var until = now.addingTimeInterval(maxLifetime)
        for s in scopes {
            guard tool.scopes.contains(s) else {
                return .failure(OAuthError(.invalidScope, "tool '\(toolName)' has no scope '\(s)'" + Suggestions.hint(for: s, in: tool.scopes, noun: "scopes")))
            }
            guard asked.contains(s) else {
                return .failure(OAuthError(.invalidScope, "agent \(agent.name) did not ask for \(toolName):\(s) (it asked for \(asked.joined(separator: ", ")))"))
            }
            guard let g = mine.first(where: { $0.scope == s }), g.active(at: now) else {
                let g = mine.first { $0.scope == s }
                let state = g.map { $0.state == .pending ? "is pending approval by \($0.approvers ?? "nobody") (grant \($0.id))" : "is \($0.displayState(at: now)) (grant \($0.id))" } ?? "was never requested"
                return .failure(OAuthError(.invalidScope, "the grant of \(toolName):\(s) to agent \(agent.name) \(state)"))
            }
            if let e = g.expiresAt { until = min(until, e) }
        }
        if case .itself = subject, let s = scopes.first(where: { tool.sensitiveScopes.contains($0) }) {
            return .failure(OAuthError(.invalidScope, "scope '\(s)' of tool '\(toolName)' is sensitive: an agent holds it only on behalf of a person (subject_token = the person's token)"))
        }
        return acting(subject, agent: agent, audience: toolName, scopes: scopes, until: until)
    }

    // MARK: services

    /// The audience a token carries to call the InferenceService `TEAM/SERVICE` through the inference gateway.
    public static func serviceAudience(team: String, service: String) -> String { "inference:\(team)/\(service)" }

    /// `inference:TEAM/SERVICE` read back (nil: not a service's audience).
    public static func service(of audience: String) -> (team: String, service: String)? {
        guard audience.hasPrefix("inference:") else { return nil }
        let parts = audience.dropFirst("inference:".count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Decides a request for a token to call an InferenceService (`audience` = `inference:TEAM/SERVICE`): an agent
    /// calls its own team's services, in its own name or for the person it acts for, as it calls tools; such a token
    /// carries no scopes (calling is all it allows) and lives at most `maxLifetime`.
    public static func decideService(subject: Subject, agent: Agent, audience: String, requested: [String]?, maxLifetime: TimeInterval, now: Date)
        -> Result<Decision, OAuthError> {
        guard let (team, _) = service(of: audience) else {
            return .failure(OAuthError(.invalidTarget, "'\(audience.prefix(200))' is not a service: write inference:TEAM/SERVICE"))
        }
        guard team == agent.workload.team else {
            return .failure(OAuthError(.invalidTarget, "agent \(agent.name) calls its own team's services (inference:\(agent.workload.team)/SERVICE), not team \(team)'s"))
        }
        if let r = requested, !r.isEmpty {
            return .failure(OAuthError(.invalidScope, "a token for a service carries no scopes (calling it is what it allows): leave scope out"))
        }
        return acting(subject, agent: agent, audience: audience, scopes: [], until: now.addingTimeInterval(maxLifetime))
    }

    /// Who a token is about once what it allows is decided: the agent itself, the person it acts for, or the person an
    /// earlier agent's token (for the same audience, within its scopes) acts for.
    static func acting(_ subject: Subject, agent: Agent, audience: String, scopes: [String], until: Date) -> Result<Decision, OAuthError> {
        var until = until
        switch subject {
        case .itself:
            return .success(Decision(subject: agent.spiffeID, act: nil, scopes: scopes, expiresAt: until))
        case .person(let name, _, let mayChange, let expiresAt):
            guard let onBehalfOf = agent.details.onBehalfOf else {
                return .failure(OAuthError(.invalidGrant, "agent \(agent.name) does not act on behalf of people (it sets no onBehalfOf): it may only use its own identity as subject_token"))
            }
            guard mayChange(agent.workload.team) else {
                return .failure(OAuthError(.invalidGrant, "\(name) may not act through team \(agent.workload.team)'s agent \(agent.name)"))
            }
            guard name == onBehalfOf else {
                return .failure(OAuthError(.invalidGrant, "agent \(agent.name) acts on behalf of \(onBehalfOf), not \(name)"))
            }
            if let e = expiresAt { until = min(until, e) }
            return .success(Decision(subject: name, act: ActorClaim(sub: agent.spiffeID), scopes: scopes, expiresAt: until))
        case .delegated(let earlier):
            guard let act = earlier.act else {
                return .failure(OAuthError(.invalidGrant, "the subject_token acts for no person; pass the person's token or your own JWT-SVID"))
            }
            guard earlier.aud.contains(audience) else {
                return .failure(OAuthError(.invalidTarget, "the subject_token is for \(earlier.aud.values.joined(separator: ", ")), not '\(audience)'"))
            }
            guard earlier.tarmac.team == agent.workload.team else {
                return .failure(OAuthError(.invalidGrant, "the subject_token was issued to team \(earlier.tarmac.team)'s agent; \(agent.name) is team \(agent.workload.team)'s"))
            }
            guard act.depth < maxChain else {
                return .failure(OAuthError(.invalidGrant, "the chain of agents is already \(act.depth) long (at most \(maxChain))"))
            }
            let held = Set(earlier.scopes)
            if let s = scopes.first(where: { !held.contains($0) }) {
                return .failure(OAuthError(.invalidScope, "the subject_token does not carry scope '\(s)' (it carries \(earlier.scope))"))
            }
            until = min(until, Date(timeIntervalSince1970: Double(earlier.exp)))
            return .success(Decision(subject: earlier.sub, act: ActorClaim(sub: agent.spiffeID, act: act), scopes: scopes, expiresAt: until))
        }
    }

    static func pendingNote(_ grants: [Grant], now: Date) -> String {
        let pending = grants.filter { $0.state == .pending }
        guard !pending.isEmpty else { return "" }
        return "; pending approval: " + pending.map { "\($0.scope) (grant \($0.id), by \($0.approvers ?? ""))" }.joined(separator: ", ")
    }
}
