/// A workload waiting for admission: a gang of pods that start together or not at all.
public struct PendingWorkload: Hashable, Sendable {
    public var id: String
    public var team: String
    public var user: String
    public var priority: Int
    /// When it was submitted (milliseconds, on the engine's clock).
    public var submitted: Int64
    public var pods: [PodShape]
    /// All pods in one topology domain (`ClusterState.domain`).
    public var sameDomain: Bool
    /// Pools it may run in (nil: any).
    public var pools: Set<Int16>?
    /// It may not be preempted before running this long (milliseconds).
    public var minRuntime: Int64
    public var preemptible: Bool
    /// It may preempt others to start (false: its priority is non-preempting, like Kubernetes' `preemptionPolicy:
    /// Never`: it keeps its place in the order but waits for capacity to free up).
    public var preempts: Bool

    public init(id: String, team: String, user: String = "", priority: Int = 0, submitted: Int64 = 0, pods: [PodShape],
                sameDomain: Bool = false, pools: Set<Int16>? = nil, minRuntime: Int64 = 0, preemptible: Bool = true, preempts: Bool = true) {
        self.id = id
        self.team = team
        self.user = user
        self.priority = priority
        self.submitted = submitted
        self.pods = pods
        self.sameDomain = sameDomain
        self.pools = pools
        self.minRuntime = minRuntime
        self.preemptible = preemptible
        self.preempts = preempts
    }

    public var gpuMilli: Int { pods.reduce(0) { $0 + $1.totalGPUMilli } }
}

/// A workload that was admitted and holds its placements.
public struct RunningWorkload: Hashable, Sendable {
    public var workload: PendingWorkload
    public var placements: [Placement]
    /// What its team is charged (GPU counted against the models it landed on).
    public var charged: Resources
    public var started: Int64
    /// When it last saved a checkpoint (work since then is lost if it is preempted).
    public var lastCheckpoint: Int64

    public init(workload: PendingWorkload, placements: [Placement], charged: Resources, started: Int64, lastCheckpoint: Int64? = nil) {
        self.workload = workload
        self.placements = placements
        self.charged = charged
        self.started = started
        self.lastCheckpoint = lastCheckpoint ?? started
    }

    /// GPU-milliseconds of work lost if preempted now.
    public func lostWork(at now: Int64) -> Int64 { max(0, now - lastCheckpoint) * Int64(max(1, workload.gpuMilli)) }
}

/// Everything a scheduling cycle looks at. A value: the cycle never changes it, it returns a `Decision`.
public struct Snapshot: Sendable {
    public var now: Int64
    /// The cluster with every running workload already assigned.
    public var cluster: ClusterState
    public var running: [RunningWorkload]
    public var pending: [PendingWorkload]
    public var quotas: [TeamQuota]

    public init(now: Int64, cluster: ClusterState, running: [RunningWorkload] = [], pending: [PendingWorkload], quotas: [TeamQuota]) {
        self.now = now
        self.cluster = cluster
        self.running = running
        self.pending = pending
        self.quotas = quotas
    }
}

/// Why a workload waits, with numbers (the data behind `tarmac why`).
public enum WaitReason: Hashable, Sendable, CustomStringConvertible {
    /// Its team's quota (and cohort) cannot cover it.
    case quota(QuotaShortfall)
    /// No placement exists for the whole gang right now.
    case shape(String)
    /// Capacity is held for a workload that has waited too long.
    case reservation(for: String)
    /// Higher-priority or fairer work was admitted first and used the room (set when nothing else applies).
    case priority(String)

    public var kind: String {
        switch self {
        case .quota(let q): q.resource.hasPrefix("budget") ? "budget" : "quota"
        case .shape: "shape"
        case .reservation: "reservation"
        case .priority: "priority"
        }
    }

    public var description: String {
        switch self {
        case .quota(let q) where q.resource.hasPrefix("budget"): "budget: \(q.detail)"
        case .quota(let q): "quota: needs \(q.needed) of \(q.resource), \(q.available) available (\(q.detail))"
        case .shape(let s): "shape: \(s)"
        case .reservation(let id): "reservation: capacity is held for \(id), which has waited longest"
        case .priority(let s): "priority: \(s)"
        }
    }
}

/// What a cycle decided.
public struct Decision: Sendable {
    public struct Admission: Hashable, Sendable {
        public var id: String
        public var placements: [Placement]
        public var charged: Resources
    }

    public struct Preemption: Hashable, Sendable {
        public var id: String
        public var by: String
        /// "priority" (a higher priority needs the room) or "reclaim" (a team takes back its nominal quota).
        public var reason: String
        public var lostGPUMilliSeconds: Int64
    }

    public var admitted: [Admission] = []
    public var preempted: [Preemption] = []
    public var waiting: [String: WaitReason] = [:]
    /// The workload capacity is kept for this cycle (a head that has waited too long), if any.
    public var reservedFor: String?
    /// Nanoseconds spent deciding each workload, when `SchedulerConfig.measure` is set.
    public var decisionNanoseconds: [Int64] = []
}

public struct SchedulerConfig: Sendable {
    /// A workload that has waited this long (ms) and still does not fit gets a reservation: competing work behind it
    /// stops being backfilled until it starts.
    public var reservationAfter: Int64
    public var preemption: Bool
    /// Explain every waiting workload (costs a scan per distinct shape).
    public var explain: Bool
    /// Time every decision against this monotonic reading (benchmarks pass one); nil: not timed. The engine reads no
    /// clock of its own.
    public var stopwatch: (@Sendable () -> Duration)?
    /// Kept state (`SchedulerState`) examines parked workloads again at least this often (ms), whether or not anything
    /// changed: what time alone can change (a victim's minimum runtime passing, a reservation coming due) is seen then.
    public var recheckAfter: Int64

    public init(reservationAfter: Int64 = 10 * 60 * 1000, preemption: Bool = true, explain: Bool = true, stopwatch: (@Sendable () -> Duration)? = nil,
                recheckAfter: Int64 = 60 * 1000) {
        self.reservationAfter = reservationAfter
        self.recheckAfter = recheckAfter
        self.preemption = preemption
        self.explain = explain
        self.stopwatch = stopwatch
    }
}
