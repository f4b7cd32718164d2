/// Where a workload is in its life (DESIGN §5). `preempted` is a moment, not a resting state: the workload goes back to
/// `queued` with the preemption as its reason.
public enum WorkloadState: String, Codable, Sendable, CaseIterable {
    case queued, admitted, running, succeeded, failed, cancelled, rejected

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled || self == .rejected }
    /// Holding capacity: the engine counts it as running.
    public var holdsCapacity: Bool { self == .admitted || self == .running }
}
