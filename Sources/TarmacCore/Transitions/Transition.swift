import Foundation
import TarmacPlanning

/// One persisted change of one workload, as every subscriber sees it (metering, credentials, delivery, the portal's live
/// view). Written in the same transaction as the change and its audit record; `seq` orders all transitions of the
/// control plane without gaps, so a subscriber that remembers the last one it saw resumes exactly after it.
public struct Transition: Codable, Sendable, Hashable {
    /// Assigned by the store (0 until persisted).
    public var seq: Int64
    public var workload: String
    public var name: String
    public var team: String
    public var env: String
    public var kind: String
    public var attempt: Int
    /// What happened, as the audit record's action: submit, admit, run, retry, preempt, cancel-request, succeed, fail,
    /// cancel, checkpoint, scale-up, scale-down.
    public var event: String
    /// The state before (nil for a submit).
    public var from: WorkloadState?
    public var to: WorkloadState
    public var at: Date
    /// Pods of the attempt after the change.
    public var pods: Int
    public var cause: String?
    /// GPU- and CPU-seconds the workload used since the transition before this one (its attempt held capacity meanwhile).
    public var gpuSeconds: Double
    public var cpuSeconds: Double
    /// Memory GiB-seconds over the same span (nil in transitions stored before it was accounted).
    public var memoryGiBSeconds: Double?
    /// Who submitted the workload, its accelerator model and the model it serves (InferenceServices): what metering
    /// sums usage by (nil in transitions stored before they were carried).
    public var user: String?
    public var accelerator: String?
    public var model: String?
    /// Where the span its GPU-, CPU- and memory-seconds were used over began (it ends at `at`): metering splits it
    /// across days. nil when it used nothing.
    public var usageSince: Date?
    /// Where that span ended, when not at `at`: the pods' own end (a pod that ended while the control plane was down
    /// is billed until it ended, not until the control plane saw it).
    public var usageUntil: Date?

    public init(seq: Int64 = 0, workload: String, name: String, team: String, env: String, kind: String, attempt: Int, event: String,
                from: WorkloadState?, to: WorkloadState, at: Date, pods: Int, cause: String?, gpuSeconds: Double = 0, cpuSeconds: Double = 0) {
        self.seq = seq
        self.workload = workload
        self.name = name
        self.team = team
        self.env = env
        self.kind = kind
        self.attempt = attempt
        self.event = event
        self.from = from
        self.to = to
        self.at = at
        self.pods = pods
        self.cause = cause
        self.gpuSeconds = gpuSeconds
        self.cpuSeconds = cpuSeconds
    }

    /// The transition of `before` (nil: new) into `after`.
    public init(_ event: String, before: WorkloadEntry?, after e: WorkloadEntry, at: Date) {
        self.init(workload: e.id, name: e.name, team: e.team, env: e.env, kind: e.kind, attempt: e.attempt, event: event,
                  from: before?.state, to: e.state, at: at, pods: e.podCount, cause: e.cause,
                  gpuSeconds: e.gpuSeconds - (before?.gpuSeconds ?? 0), cpuSeconds: e.cpuSeconds - (before?.cpuSeconds ?? 0))
        memoryGiBSeconds = (e.memoryGiBSeconds ?? 0) - (before?.memoryGiBSeconds ?? 0)
        user = e.submittedBy
        // The accounting the machine did for this change started where the entry before it was accounted until.
        if gpuSeconds > 0 || cpuSeconds > 0, let b = before { usageSince = b.accountedUntil ?? b.startedAt ?? b.admittedAt }
    }

    /// The same transition, saying the accelerator and model of the plan it ran under.
    public func about(_ plan: WorkloadPlan?) -> Transition {
        var t = self
        t.accelerator = plan?.size.accelerator
        if case .inference(let d)? = plan?.workload.details { t.model = d.model.description }
        return t
    }
}
