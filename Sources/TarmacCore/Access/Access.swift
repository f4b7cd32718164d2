/// Who may do what: the one place the rules of access live (roles, teams, the audit trail). The API's routes, the
/// control plane and the credential controller ask it; none of them compares roles itself. A workload's own credential
/// (its checkpoint token) is checked by the control plane against the workload it names, never against a role.
public enum Access {
    public enum Action: Sendable, Hashable {
        /// Create, list and revoke API tokens: admins.
        case manageTokens
        /// Rotate the signing keys of workload credentials: admins.
        case rotateKeys
        /// Read, verify and export the audit trail: admins and viewers bound to no team (auditors).
        case readAudit
        /// Submit workloads and upload working directories (for teams they may change): members and admins.
        case submit
        /// See a team's workloads, grants and queue: admins, auditors, the team's members and viewers.
        case read(team: String)
        /// Change a team's workloads (cancel, checkpoint, submit for it): admins and the team's members.
        case change(team: String)
    }

    public static func allows(_ p: Principal, _ action: Action) -> Bool {
        switch action {
        case .manageTokens, .rotateKeys: p.role == .admin
        case .readAudit: p.role == .admin || (p.role == .viewer && p.team == nil)
        case .submit: p.role != .viewer
        case .read(let team): p.role == .admin || p.team == team || (p.role == .viewer && p.team == nil)
        case .change(let team): p.role == .admin || (p.role == .member && p.team == team)
        }
    }

    /// Throws `forbidden` with `message` (or the rule's own words) when the caller may not.
    public static func require(_ p: Principal, _ action: Action, _ message: @autoclosure () -> String? = nil) throws {
        guard !allows(p, action) else { return }
        throw RuntimeError(.forbidden, message() ?? refusal(p, action))
    }

    static func refusal(_ p: Principal, _ action: Action) -> String {
        let who = "\(p.name) (\(p.role.rawValue)\(p.team.map { " of team \($0)" } ?? ""))"
        return switch action {
        case .manageTokens: "only admins manage tokens"
        case .rotateKeys: "only admins rotate signing keys"
        case .readAudit: "the audit trail is for admins and platform-wide viewers"
        case .submit: "viewers cannot submit workloads"
        case .read(let team): "\(who) cannot see team \(team)"
        case .change(let team): "\(who) cannot change workloads of team \(team)"
        }
    }
}
