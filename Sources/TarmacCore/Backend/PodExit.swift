import Foundation

/// How one pod of an attempt ended, as its backend saw it (the control plane's triage reads it).
public struct PodExit: Codable, Sendable, Hashable {
    public enum Reason: String, Codable, Sendable {
        /// The process exited by itself (code or signal).
        case exited
        /// Killed for using more memory than its size allows.
        case outOfMemory
        /// Killed at its `maxDuration`.
        case deadline
        /// Stopped on request (cancel or preemption).
        case stopped
        /// Its supervisor vanished without a word (machine or control-plane crash).
        case lost
        /// It could not be started at all.
        case launchFailed
        /// Its image could not be pulled (Kubernetes: ErrImagePull, ImagePullBackOff, InvalidImageName).
        case imagePull
        /// Its container could not be configured (Kubernetes: CreateContainerConfigError, e.g. a missing Secret or ConfigMap).
        case containerConfig
        /// No node would take it (Kubernetes: the scheduler's Unschedulable, with its message in `detail`).
        case unschedulable
        /// The node or the cluster evicted it (pressure, drain, a NoExecute taint).
        case evicted
        /// The model files it was to serve are not the registered ones (changed, missing): it was not started.
        case modelTampered
        /// Its cluster's API server was out of reach (or its nodes gone) for longer than the contract's
        /// `clusterLostTimeout`: its next attempt is placed on another cluster, and what it left there is deleted when the
        /// cluster comes back.
        case clusterLost
    }

    public var workload: String
    public var attempt: Int
    public var pod: Int
    public var reason: Reason
    public var exitCode: Int?
    public var signal: Int?
    public var peakMemoryBytes: Int64?
    public var memoryLimitBytes: Int64?
    /// The last lines of its log (for the triage and for `tarmac why`).
    public var lastLines: [String]
    public var detail: String?
    /// When the pod's container really started and ended, by the backend's own record (Kubernetes: the containers'
    /// `startedAt`/`finishedAt`; local: the supervisor's files): usage is counted between them, not between the moments
    /// the control plane happened to look. nil where the backend does not know.
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(workload: String, attempt: Int, pod: Int, reason: Reason, exitCode: Int? = nil, signal: Int? = nil,
                peakMemoryBytes: Int64? = nil, memoryLimitBytes: Int64? = nil, lastLines: [String] = [], detail: String? = nil) {
        self.workload = workload
        self.attempt = attempt
        self.pod = pod
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.peakMemoryBytes = peakMemoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.lastLines = lastLines
        self.detail = detail
    }

    public var succeeded: Bool { reason == .exited && exitCode == 0 }
}
