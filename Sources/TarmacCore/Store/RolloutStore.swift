import Foundation

/// One service's rollout as the runner keeps it across restarts: its state, encoded by the runner (`body`), by team and
/// service. The last rollout of a service stays (it says how the service is routed and is what a rollback works on)
/// until the next one replaces it.
public struct RolloutRecord: Sendable, Hashable {
    public var team: String
    public var service: String
    public var body: Data
    public init(team: String, service: String, body: Data) {
        self.team = team
        self.service = service
        self.body = body
    }
}

/// Rollouts kept across restarts of the control plane.
public protocol RolloutStore: Sendable {
    /// Writes a service's rollout, replacing the one it had.
    func saveRollout(_ record: RolloutRecord) async throws
    /// Every kept rollout, by team then service.
    func rollouts() async throws -> [RolloutRecord]
    /// Forgets a service's rollout (nothing when it has none).
    func deleteRollout(team: String, service: String) async throws
}
