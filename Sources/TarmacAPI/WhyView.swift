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
    /// The numbers behind the message, as fields (only those that apply).
    public var facts: WhyFacts?
    /// For a running InferenceService behind Tarmac's gateway: its failed requests of late, by side and cause.
    public var serving: ServingFaultsView?
    /// A running workload's latest GPU reading, where telemetry reads its GPUs.
    public var gpu: WorkloadTelemetryView?
    /// For a queued workload: when it would start if nothing else arrives (the scheduler run forward from now).
    public var estimatedStart: StartEstimateView?

    public init(workload: String, name: String, state: String, reason: String?, message: String, lastCheckpoint: CheckpointView? = nil,
                facts: WhyFacts? = nil) {
        self.workload = workload
        self.name = name
        self.state = state
        self.reason = reason
        self.message = message
        self.lastCheckpoint = lastCheckpoint
        self.facts = facts
    }
}

/// The numbers of a `why`: what a waiting workload needs and what is available, or what a failed one used and was allowed.
public struct WhyFacts: Codable, Sendable, Hashable {
    /// What it waits for: `cpu` (cores), `memory` (bytes) or `<accelerator> GPUs`.
    public var resource: String?
    public var needed: Double?
    public var available: Double?
    public var exitCode: Int?
    public var signal: Int?
    public var memoryLimitBytes: Int64?
    public var peakMemoryBytes: Int64?
    public var maxDurationSeconds: Int64?
    public var ranSeconds: Int64?
    /// A size that would fix it (the next larger one, after running out of memory).
    public var suggestedSize: String?

    public init(resource: String? = nil, needed: Double? = nil, available: Double? = nil, exitCode: Int? = nil, signal: Int? = nil,
                memoryLimitBytes: Int64? = nil, peakMemoryBytes: Int64? = nil, maxDurationSeconds: Int64? = nil, ranSeconds: Int64? = nil,
                suggestedSize: String? = nil) {
        self.resource = resource
        self.needed = needed
        self.available = available
        self.exitCode = exitCode
        self.signal = signal
        self.memoryLimitBytes = memoryLimitBytes
        self.peakMemoryBytes = peakMemoryBytes
        self.maxDurationSeconds = maxDurationSeconds
        self.ranSeconds = ranSeconds
        self.suggestedSize = suggestedSize
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
    /// Each team's quota the caller may see: per resource, nominal, in use, borrowed and lent.
    public var quotas: [TeamQuotaView]?
    public init(items: [QueueItem], quotas: [TeamQuotaView]? = nil) {
        self.items = items
        self.quotas = quotas
    }
}

/// One team's quota as it stands: per resource (`cpu` in cores, `memory` in GiB, `<accelerator> GPUs`).
public struct TeamQuotaView: Codable, Sendable, Hashable {
    public struct Line: Codable, Sendable, Hashable {
        public var resource: String
        public var nominal: Double
        /// What the team holds now (its own quota first, then borrowed).
        public var used: Double
        /// What it holds beyond its nominal quota, lent by its cohort.
        public var borrowed: Double
        /// Its idle quota that other teams of its cohort hold now (their borrowing, shared over the idle lenders).
        public var lent: Double
        public init(resource: String, nominal: Double, used: Double, borrowed: Double, lent: Double) {
            self.resource = resource
            self.nominal = nominal
            self.used = used
            self.borrowed = borrowed
            self.lent = lent
        }
    }
    public var team: String
    public var cohort: String?
    public var lines: [Line]
    /// Its budget holds it (nothing more is admitted), with why.
    public var hold: String?
    public init(team: String, cohort: String?, lines: [Line], hold: String? = nil) {
        self.team = team
        self.cohort = cohort
        self.lines = lines
        self.hold = hold
    }
}

/// A service's failed requests over a recent window, told apart as the model's side (`model_error`, `model_no_answer`)
/// or the infrastructure's (`unreachable`, `no_replica`, `overloaded`).
public struct ServingFaultsView: Codable, Sendable, Hashable {
    public var windowSeconds: Int
    public var modelSide: Int
    public var infrastructureSide: Int
    /// By cause.
    public var reasons: [String: Int]
    public init(windowSeconds: Int, modelSide: Int, infrastructureSide: Int, reasons: [String: Int]) {
        self.windowSeconds = windowSeconds
        self.modelSide = modelSide
        self.infrastructureSide = infrastructureSide
        self.reasons = reasons
    }
}
