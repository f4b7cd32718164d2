/// Tarmac's private claim: which workload attempt a credential belongs to, so it ends with that attempt.
public struct WorkloadClaim: Codable, Sendable, Hashable {
    /// Workload id.
    public var wid: String
    /// Attempt.
    public var att: Int
    public var team: String
    public init(wid: String, att: Int, team: String) {
        self.wid = wid
        self.att = att
        self.team = team
    }
}
