/// Why a workload is where it is (`GET /v1/workloads/{ref}/why`), in the user's names and units.
public struct WhyView: Codable, Sendable, Hashable {
    public var workload: String
    public var name: String
    public var state: String
    /// `quota`, `shape`, `reservation`, `priority`, `backoff`, a failure cause, or nil when nothing holds it.
    public var reason: String?
    public var message: String
    /// The last checkpoint it reported, if any.
    public var lastCheckpoint: CheckpointView?

    public init(workload: String, name: String, state: String, reason: String?, message: String, lastCheckpoint: CheckpointView? = nil) {
        self.workload = workload
        self.name = name
        self.state = state
        self.reason = reason
        self.message = message
        self.lastCheckpoint = lastCheckpoint
    }
}

/// One waiting workload in scheduling order (`GET /v1/queue`).
public struct QueueItem: Codable, Sendable, Hashable {
    public var position: Int
    public var workload: WorkloadView
    public var reason: String?
    public var message: String
    public init(position: Int, workload: WorkloadView, reason: String?, message: String) {
        self.position = position
        self.workload = workload
        self.reason = reason
        self.message = message
    }
}

public struct QueueView: Codable, Sendable, Hashable {
    public var items: [QueueItem]
    public init(items: [QueueItem]) { self.items = items }
}
