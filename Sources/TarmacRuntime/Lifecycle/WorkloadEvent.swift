import Foundation
import TarmacCore

/// What can happen to a workload. The control plane turns decisions, API calls and backend reports into these; the
/// state machine decides what they mean.
public enum WorkloadEvent: Sendable, Hashable {
    /// The engine admitted it: an attempt starts on these placements, charged this to its team.
    case admitted(placements: [PodPlacement], charge: Charge)
    /// The engine took its capacity for another workload.
    case preempted(by: String, reason: String)
    /// The backend reports that the attempt's pods run (local processes: right after launch), since `at` by its own
    /// record where it knows.
    case started(attempt: Int, reportedByBackend: Bool, at: Date? = nil)
    case podExited(PodExit)
    /// The backend could not start the attempt's pods at all.
    case launchFailed(attempt: Int, detail: String)
    case cancelRequested(by: AuditActor, name: String)
    /// What the control plane found of it at start.
    case recovered(Recovery)
    /// Its `maxDuration` passed (checked on the control plane's clock).
    case deadline
    /// It reported a checkpoint.
    case checkpointed(CheckpointMark, by: AuditActor)
    /// The backend has it (its objects exist, suspended): from now on it may be scheduled.
    case accepted
    /// The backend refused it for good when it was accepted into the queue.
    case rejected(message: String)
    /// Its autoscaler's extra replicas were admitted on these placements.
    case scaledUp(added: [PodPlacement], charge: Charge)
    /// Its autoscaler scaled down: these placements stay (one per replica left).
    case scaledDown(kept: [PodPlacement])
    /// Idle reclaim: its GPUs stayed under the policy's threshold (`evidence`); `action` follows at `actAt` (nil: none).
    case idleNoticed(evidence: String, action: String, actAt: Date?)
    /// Its GPUs are used again after a notice.
    case idleCleared(utilization: Double)
    /// Idle reclaim acts: scale an inference service to zero, or stop the workload.
    case idleReclaimed(scaleToZero: Bool, evidence: String)
    /// A request through the inference gateway for a service scaled to zero: it may be admitted again.
    case woken(by: String)

    public enum Recovery: Sendable, Hashable {
        /// Its document no longer resolves against the platform contract.
        case unresolvable
        /// Admitted by an earlier version with no pod at all.
        case noReplicas
        /// Its attempt holds capacity; these pods never started (or were lost before starting).
        case pods(missing: [Int])
    }
}

/// What the control plane must do after a step, in this order: store first, then the backend.
public enum WorkloadEffect: Sendable, Hashable {
    /// Store the step's entry with this audit record.
    case persist(AuditDraft)
    /// Publish this transition once it is stored (in the same transaction as the entry).
    case emit(Transition)
    /// Start these pods of the attempt.
    case launch(attempt: Int, pods: [Int])
    /// Stop every pod of the attempt.
    case stop(attempt: Int)
    /// The attempt's pod slots changed: the node of each slot now.
    case resize(attempt: Int, nodes: [String])
    /// Hand it to the backend ahead of admission (Kubernetes: its objects, suspended); `accepted` or `rejected` follows.
    case accept
    /// It ended for good: the backend frees what it holds.
    case release
}
