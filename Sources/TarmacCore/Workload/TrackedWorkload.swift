import Foundation
import TarmacEngine
import TarmacPlanning

/// Everything the control plane keeps about one workload, in one record: the stored entry, its resolved plan, and what
/// only lives while the control plane runs (which pods of the attempt ended, whether the backend has accepted it). Why it
/// waits is the control plane's `waitReasons`.
public struct TrackedWorkload: Sendable {
    public var entry: WorkloadEntry
    /// Nil once it ended, or when its document no longer resolves against the contract.
    public var plan: WorkloadPlan?
    /// Pods of the current attempt that have ended.
    public var endedPods: Set<Int> = []
    /// The latest end of those pods by the backend's own record (nil: none said when).
    public var lastPodEnd: Date?
    /// Stored but not yet accepted by the backend: not scheduled until it is.
    public var accepting = false

    public init(entry: WorkloadEntry, plan: WorkloadPlan?) {
        self.entry = entry
        self.plan = plan
    }

    public var id: String { entry.id }
    public var state: WorkloadState { entry.state }
}
