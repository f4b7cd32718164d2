import Crypto
import Foundation
import TarmacModel

/// One scope of one tool for one agent: requested when the agent is submitted (from its `tools`), approved at once or
/// by an approver the contract names, and over when it is denied, revoked, expired, or the agent ends.
public struct Grant: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case pending, approved, denied, revoked, ended
    }

    public var id: String
    /// The agent's workload id and SPIFFE ID.
    public var workload: String
    public var agent: String
    public var agentName: String
    public var team: String
    public var env: String
    public var tool: String
    public var scope: String
    /// The person the agent acts for (`onBehalfOf`), nil when it acts in its own name.
    public var onBehalfOf: String?
    /// Who submitted the agent: never its approver.
    public var requestedBy: String
    /// `role:admin` or `team:NAME`; nil: granted at submit.
    public var approvers: String?
    public var state: State
    public var decidedBy: String?
    public var decidedAt: Date?
    public var reason: String?
    public var createdAt: Date
    /// An approved grant ends then (nil: when the agent ends).
    public var expiresAt: Date?
    /// The longest lifetime an approval may give, in seconds (nil: until the agent ends).
    public var maxLifetime: Int64?

    public func active(at now: Date) -> Bool { state == .approved && (expiresAt.map { $0 > now } ?? true) }

    /// The state as people read it: an approved grant past its end reads `expired`.
    public func displayState(at now: Date) -> String {
        state == .approved && !(expiresAt.map { $0 > now } ?? true) ? "expired" : state.rawValue
    }
}

/// Who decides on a grant.
public struct Decider: Sendable, Hashable {
    public var name: String
    public var isAdmin: Bool
    public var team: String?
    public init(name: String, isAdmin: Bool, team: String?) {
        self.name = name
        self.isAdmin = isAdmin
        self.team = team
    }
}

/// Why a decision on a grant was refused.
public struct GrantError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable { case forbidden, conflict }
    public var code: Code
    public var description: String
    init(_ code: Code, _ d: String) {
        self.code = code
        description = d
    }
}

/// The rules of grants, as pure functions of the contract, the grant and who decides.
public enum GrantRules {
    /// The grants an agent's `tools` request, one per tool and scope; those whose rule needs no approval are approved
    /// by the contract at once.
    public static func requests(workload: String, agent: String, agentName: String, team: String, env: String, details: AgentDetails,
                                requestedBy: String, tools: [String: Tool], now: Date) -> [Grant] {
        var out: [Grant] = []
        for (toolName, scopes) in details.tools.sorted(by: { $0.key < $1.key }) {
            guard let tool = tools[toolName] else { continue }
            for scope in Set(scopes).sorted() {
                let rule = tool.grantRule(for: scope)
                var g = Grant(id: grantID(workload: workload, tool: toolName, scope: scope), workload: workload, agent: agent,
                              agentName: agentName, team: team, env: env, tool: toolName, scope: scope, onBehalfOf: details.onBehalfOf,
                              requestedBy: requestedBy, approvers: rule.approvers, state: .pending, createdAt: now,
                              maxLifetime: rule.maxLifetime?.seconds)
                if rule.approvers == nil {
                    g.state = .approved
                    g.decidedBy = "contract"
                    g.decidedAt = now
                    g.expiresAt = rule.maxLifetime.map { now.addingTimeInterval(Double($0.seconds)) }
                }
                out.append(g)
            }
        }
        return out
    }

    /// A grant's id: stable for its workload, tool and scope (the first 12 hex digits of their SHA-256), so a request
    /// made again is the same grant.
    static func grantID(workload: String, tool: String, scope: String) -> String {
        "grt-" + SHA256.hash(data: Data("\(workload)\u{1F}\(tool)\u{1F}\(scope)".utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `d` is one of the grant's approvers (never the person who asked, nor the person it acts for).
    public static func mayDecide(_ g: Grant, _ d: Decider) -> GrantError? {
        guard let approvers = g.approvers else {
            return GrantError(.conflict, "grant \(g.id) needs no approval: the contract grants \(g.tool):\(g.scope) at submit")
        }
        if d.name == g.requestedBy {
            return GrantError(.forbidden, "\(d.name) asked for this grant and cannot decide on it; an approver (\(approvers)) other than the requester must approve or deny it")
        }
        if let p = g.onBehalfOf, d.name == p {
            return GrantError(.forbidden, "\(d.name) is the person the agent acts for and cannot approve its own delegation; an approver (\(approvers)) must approve or deny it")
        }
        // role:admin: an admin; team:NAME: a member of that team (admins are bound to no team).
        let qualifies = approvers == "role:admin" ? d.isAdmin : approvers.hasPrefix("team:") && d.team == String(approvers.dropFirst(5))
        guard qualifies else { return GrantError(.forbidden, "only \(approvers) may decide on grant \(g.id) (\(g.tool):\(g.scope))") }
        return nil
    }

    public static func approve(_ g: Grant, by d: Decider, lifetime: TimeInterval?, now: Date) -> Result<Grant, GrantError> {
        if let e = mayDecide(g, d) { return .failure(e) }
        guard g.state == .pending else { return .failure(GrantError(.conflict, "grant \(g.id) is \(g.state.rawValue), not pending")) }
        var lifetime = lifetime
        if let max = g.maxLifetime {
            if let l = lifetime, l > Double(max) {
                return .failure(GrantError(.conflict, "the lifetime asked (\(Int(l))s) is longer than the contract allows for \(g.tool):\(g.scope) (\(TimeSpan(seconds: max)))"))
            }
            lifetime = lifetime ?? Double(max)
        }
        if let l = lifetime, l <= 0 { return .failure(GrantError(.conflict, "the lifetime must be positive")) }
        var out = decided(g, .approved, by: d, reason: nil, now: now)
        out.expiresAt = lifetime.map { now.addingTimeInterval($0) }
        return .success(out)
    }

    public static func deny(_ g: Grant, by d: Decider, reason: String?, now: Date) -> Result<Grant, GrantError> {
        if let e = mayDecide(g, d) { return .failure(e) }
        guard g.state == .pending else { return .failure(GrantError(.conflict, "grant \(g.id) is \(g.state.rawValue), not pending")) }
        return .success(decided(g, .denied, by: d, reason: reason, now: now))
    }

    /// Revoking is always safe, so more people may: admins, the agent's team, and its approvers.
    public static func revoke(_ g: Grant, by d: Decider, reason: String?, now: Date) -> Result<Grant, GrantError> {
        let approver = g.approvers.map { a in a == "role:admin" ? d.isAdmin : d.team == String(a.dropFirst(5)) } ?? false
        guard d.isAdmin || d.team == g.team || approver else {
            return .failure(GrantError(.forbidden, "only admins, team \(g.team) or the grant's approvers may revoke grant \(g.id)"))
        }
        guard g.state == .approved || g.state == .pending else {
            return .failure(GrantError(.conflict, "grant \(g.id) is \(g.state.rawValue); only pending or approved grants can be revoked"))
        }
        return .success(decided(g, .revoked, by: d, reason: reason, now: now))
    }

    static func decided(_ g: Grant, _ state: Grant.State, by d: Decider, reason: String?, now: Date) -> Grant {
        var out = g
        out.state = state
        out.decidedBy = d.name
        out.decidedAt = now
        out.reason = reason
        return out
    }

    /// The agent ended: its grants end with it.
    public static func end(_ g: Grant, now: Date) -> Grant? {
        guard g.state == .approved || g.state == .pending else { return nil }
        var out = g
        out.state = .ended
        out.decidedAt = now
        out.decidedBy = out.decidedBy ?? "lifecycle"
        return out
    }
}
