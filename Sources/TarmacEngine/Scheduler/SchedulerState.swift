/// The scheduler's state kept between cycles: the cache (cluster, quota, running work) and the queue (waiting work,
/// active or parked). Feed it what happens — `submit`, `withdraw`, `finish` — and run `Scheduler.cycle(&state, …)`;
/// a cycle examines only the workloads something could have let in since they were last examined.
public struct SchedulerState: Sendable {
    var cache: SchedulerCache
    var queue = AdmissionQueue()

    public init(now: Int64, cluster: ClusterState, quotas: [TeamQuota], running: [RunningWorkload] = [], pending: [PendingWorkload] = []) {
        cache = SchedulerCache(now: now, cluster: cluster, quotas: quotas, running: running)
        for w in pending { queue.add(w) }
    }

    public init(snapshot s: Snapshot) {
        self.init(now: s.now, cluster: s.cluster, quotas: s.quotas, running: s.running, pending: s.pending)
    }

    public var now: Int64 {
        get { cache.now }
        set { cache.now = newValue }
    }

    public var cluster: ClusterState { cache.cluster }
    public var book: QuotaBook { cache.book }
    public var running: [String: RunningWorkload] { cache.running }
    public var pending: [String: PendingWorkload] { queue.pending }
    /// How many waiting workloads the next cycle will examine, and how many are parked.
    public var activeCount: Int { queue.active.count }
    public var parkedCount: Int { queue.parkedCount }
    public var reservedFor: String? { queue.reservedFor }
    /// Why a waiting workload was not admitted when last examined.
    public func reason(_ id: String) -> WaitReason? { queue.reasons[id] }

    /// A new (or returning) waiting workload; the next cycle examines it.
    public mutating func submit(_ w: PendingWorkload) { queue.add(w) }

    /// A team's budget hold (see `TeamQuota.hold`) is put on or lifted; lifted, its waiting work is examined again.
    public mutating func hold(team: String, _ hold: QuotaShortfall?) {
        cache.book.setHold(hold, team: team)
        if hold == nil { queue.quotaFreed(in: Self.quotaGroup(team, cache.book)) }
    }

    /// A waiting workload leaves the queue (cancelled).
    public mutating func withdraw(_ id: String) { queue.remove(id) }

    /// A running workload ended: its capacity and quota are free, and what waited for them is examined again.
    @discardableResult
    public mutating func finish(_ id: String) -> RunningWorkload? {
        guard let v = cache.running[id] else { return nil }
        let pools = cache.pools(of: v)
        cache.release(v)
        freed(v, pools: pools)
        return v
    }

    /// Wakes what waits for what `v` gave back.
    mutating func freed(_ v: RunningWorkload, pools: Set<Int16>) {
        queue.capacityFreed(in: pools)
        queue.quotaFreed(in: Self.quotaGroup(v.workload.team, cache.book))
    }

    static func quotaGroup(_ team: String, _ book: QuotaBook) -> String {
        TeamQuota.group(team: team, cohort: book.teams[team]?.cohort)
    }
}
