import Foundation
import TarmacIdentity

/// What the tool gateway asks on every call: is the token good for this tool, is the grant behind each scope still in
/// force, was a one-time token used before. Everything but the signature is a read of the in-memory deny list.
extension CredentialAuthority {
    /// A token presented at the gateway for `tool`: signature, issuer, time, audience, and a live agent attempt.
    public func verifyAccess(_ token: String, tool: String, now: Date) async throws(TokenRejection) -> AccessTokenClaims {
        let c = try await keys.verify(token, as: AccessTokenClaims.self, typ: "at+jwt", now: now)
        guard c.aud.contains(tool) else { throw .audience(expected: tool) }
        return c
    }

    /// Whether a token says it is an access token (`typ: at+jwt`), unverified: which check a caller's token goes to.
    public nonisolated func isAccessToken(_ token: String) -> Bool { TokenKeys.unverifiedType(token)?.lowercased() == "at+jwt" }

    /// An agent's access token for InferenceServices (`inference:TEAM/SERVICE` audiences), verified and still in force
    /// (its agent's attempt runs); nil otherwise. The gateway checks that one audience names the service called.
    public func verifyServiceAccess(_ token: String) async -> AccessTokenClaims? {
        guard let c = try? await keys.verify(token, as: AccessTokenClaims.self, typ: "at+jwt", now: clock.now),
              c.aud.values.allSatisfy({ TokenExchange.service(of: $0) != nil }), await isLive(c.tarmac) else { return nil }
        if let act = c.act, act.depth > TokenExchange.maxChain { return nil }
        return c
    }

    /// Why a verified token may no longer be used (nil: it may): its agent's attempt ended, or its chain is too long.
    public func revocation(of c: AccessTokenClaims) -> String? {
        if let act = c.act, act.depth > TokenExchange.maxChain { return "the chain of agents is longer than \(TokenExchange.maxChain)" }
        guard state.isLive(c.tarmac) else { return "agent \(c.client_id) (attempt \(c.tarmac.att)) no longer runs" }
        return nil
    }

    /// Whether the agent's grant of `tool:scope` is in force now (approved, not revoked, not expired, agent running).
    public func grantActive(workload: String, tool: String, scope: String, now: Date) -> Bool {
        state.grantActive(workload: workload, tool: tool, scope: scope, now: now)
    }

    /// Why a scope the token carries is not in force now (nil: it is): the grant is pending (and who approves),
    /// revoked or denied (when, by whom), ended, or expired; for the gateway's refusals.
    public func whyNotInForce(workload: String, tool: String, scope: String, now: Date) -> (reason: String, message: String, data: [String: String])? {
        guard let g = state.grant(workload: workload, tool: tool, scope: scope) else {
            return ("not_granted", "the agent has no grant of \(tool):\(scope)", [:])
        }
        guard !g.active(at: now) else { return nil }
        let at = g.decidedAt.map { ISO8601DateFormatter().string(from: $0) }
        var data = ["grant": g.id, "state": g.state.rawValue]
        if let at { data["at"] = at }
        if let by = g.decidedBy { data["by"] = by }
        switch g.state {
        case .pending:
            data["approvers"] = g.approvers ?? ""
            return ("pending_approval", "the grant of \(tool):\(scope) (\(g.id)) waits for approval by \(g.approvers ?? "an approver")", data)
        case .revoked:
            return ("revoked", "the grant of \(tool):\(scope) (\(g.id)) was revoked\(at.map { " at \($0)" } ?? "")\(g.decidedBy.map { " by \($0)" } ?? "")\(g.reason.map { ": \($0)" } ?? "")", data)
        case .denied:
            return ("denied", "the grant of \(tool):\(scope) (\(g.id)) was denied\(g.decidedBy.map { " by \($0)" } ?? "")", data)
        case .ended:
            return ("ended", "the grant of \(tool):\(scope) (\(g.id)) ended with its agent", data)
        case .approved:
            if let e = g.expiresAt { data["expiredAt"] = ISO8601DateFormatter().string(from: e) }
            return ("expired", "the grant of \(tool):\(scope) (\(g.id)) expired\(g.expiresAt.map { " at \(ISO8601DateFormatter().string(from: $0))" } ?? "")", data)
        }
    }

    /// Marks a one-time token used; false when it was used before.
    public func consume(jti: String, exp: Int64, now: Date) -> Bool {
        state.consume(jti: jti, until: exp, now: Int64(now.timeIntervalSince1970))
    }

    public var now: Date { clock.now }
}
