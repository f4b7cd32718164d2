import TarmacCore
import Foundation
import TarmacIdentity

/// Grants as people see and decide them: list, approve, deny, revoke, and "who can".
extension CredentialAuthority {
    public struct GrantFilter: Sendable {
        public var tool: String?
        public var scope: String?
        public var state: String?
        public var workload: String?
        public init(tool: String? = nil, scope: String? = nil, state: String? = nil, workload: String? = nil) {
            self.tool = tool
            self.scope = scope
            self.state = state
            self.workload = workload
        }
    }

    /// The grants `by` may read (admins and unbound viewers: all; others: their team's), newest first.
    public func grants(_ f: GrantFilter, by p: Principal) -> [Grant] {
        let now = clock.now
        return state.allGrants().filter { g in
            p.canRead(team: g.team) && (f.tool.map { $0 == g.tool } ?? true) && (f.scope.map { $0 == g.scope } ?? true)
                && (f.state.map { $0 == g.displayState(at: now) } ?? true) && (f.workload.map { $0 == g.workload || $0 == g.agentName } ?? true)
        }
        .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    /// Which agents may use a tool (and scope) now, for whom and until when: active grants only.
    public func whoCan(tool: String, scope: String?, by p: Principal) -> [Grant] {
        let now = clock.now
        return grants(GrantFilter(tool: tool, scope: scope), by: p).filter { $0.active(at: now) }
    }

    public enum Decision: Sendable {
        case approve(lifetime: TimeInterval?)
        case deny(reason: String?)
        case revoke(reason: String?)
    }

    /// Decides on a grant; a revocation is in force at the gateway before this returns.
    public func decide(_ id: String, _ decision: Decision, by p: Principal) async throws -> Grant {
        guard let g = state.grant(id), p.canRead(team: g.team) || isApprover(p, of: g) else {
            throw RuntimeError(.notFound, "no grant with id '\(id)'")
        }
        let d = Decider(name: p.name, isAdmin: p.role == .admin, team: p.team)
        let now = clock.now
        let result: Result<Grant, GrantError>
        let action: String
        switch decision {
        case .approve(let lifetime):
            result = GrantRules.approve(g, by: d, lifetime: lifetime, now: now)
            action = "grant-approve"
        case .deny(let reason):
            result = GrantRules.deny(g, by: d, reason: reason, now: now)
            action = "grant-deny"
        case .revoke(let reason):
            result = GrantRules.revoke(g, by: d, reason: reason, now: now)
            action = "grant-revoke"
        }
        switch result {
        case .failure(let e):
            throw RuntimeError(e.code == .forbidden ? .forbidden : .conflict, e.description)
        case .success(let next):
            // In memory first for a revocation (refused at the gateway at once), then stored; an approval only once stored.
            if case .revoke = decision { state.put([next]) }
            do {
                try await save([next], action: action, actor: p.actor, detail: { n in
                    switch decision {
                    case .approve: "approved\(n.expiresAt.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? " while the agent runs")"
                    case .deny(let r): "denied\(r.map { ": \($0)" } ?? "")"
                    case .revoke(let r): "revoked\(r.map { ": \($0)" } ?? "")"
                    }
                })
            } catch {
                if case .revoke = decision {} else { state.put([g]) }
                throw error
            }
            return next
        }
    }

    func isApprover(_ p: Principal, of g: Grant) -> Bool {
        guard let a = g.approvers else { return false }
        return a == "role:admin" ? p.role == .admin : p.team == String(a.dropFirst(5))
    }
}
