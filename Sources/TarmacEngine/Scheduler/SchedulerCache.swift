/// What the scheduler knows about the cluster between and during cycles (Kueue's "cache"): free capacity, quota in
/// use, and the running workloads with their placements.
struct SchedulerCache: Sendable {
    var now: Int64
    var cluster: ClusterState
    var book: QuotaBook
    var running: [String: RunningWorkload]
    /// Running workloads per "team/user", for the order of each team's queue.
    var runningPerUser: [String: Int] = [:]
    /// Shapes that did not fit; valid until something is released (cleared at the start of each cycle).
    var unplaceable: Set<ShapeKey> = []
    /// Why each shape that did not fit does not fit (explained once per shape; valid as long as `unplaceable`).
    var explanations: [ShapeKey: WaitReason] = [:]
    /// Gangs (shape, team, priority) for which no preemption could make room; valid until something is released.
    var unpreemptable: Set<PreemptionKey> = []
    /// Workloads admitted in this cycle.
    var admittedNow: Set<String> = []
    /// The cluster with nothing placed, made once (whether a gang could ever fit).
    private var emptyCluster: ClusterState?

    init(now: Int64, cluster: ClusterState, quotas: [TeamQuota], running: [RunningWorkload]) {
        self.now = now
        self.cluster = cluster
        var usage: [String: Resources] = [:]
        for r in running {
            usage[r.workload.team] = (usage[r.workload.team] ?? .zero) + r.charged
            runningPerUser[Self.user(r.workload), default: 0] += 1
        }
        book = QuotaBook(teams: quotas, usage: usage)
        self.running = Dictionary(uniqueKeysWithValues: running.map { ($0.workload.id, $0) })
    }

    static func user(_ w: PendingWorkload) -> String { w.team + "/" + w.user }

    mutating func empty() -> ClusterState {
        if let e = emptyCluster { return e }
        var e = cluster
        for n in 0..<e.count { e.empty(node: n) }
        emptyCluster = e
        return e
    }

    mutating func commit(_ w: PendingWorkload, _ a: Decision.Admission, policy: inout any PlacementPolicy) {
        for (pod, p) in zip(w.pods, a.placements) {
            cluster.assign(pod, to: p)
            policy.didPlace(pod, at: p, in: cluster)
        }
        book.charge(w.team, a.charged)
        running[w.id] = RunningWorkload(workload: w, placements: a.placements, charged: a.charged, started: now)
        runningPerUser[Self.user(w), default: 0] += 1
        admittedNow.insert(w.id)
    }

    mutating func release(_ v: RunningWorkload) {
        for (pod, p) in zip(v.workload.pods, v.placements) { cluster.release(pod, from: p) }
        book.refund(v.workload.team, v.charged)
        running[v.workload.id] = nil
        let u = Self.user(v.workload)
        if let k = runningPerUser[u] { runningPerUser[u] = k > 1 ? k - 1 : nil }
        unplaceable.removeAll()
        explanations.removeAll()
        unpreemptable.removeAll()
    }

    mutating func evict(_ v: RunningWorkload, policy: inout any PlacementPolicy) {
        release(v)
        for (pod, p) in zip(v.workload.pods, v.placements) { policy.didRelease(pod, from: p, in: cluster) }
    }

    /// The pools a running workload's pods occupy.
    func pools(of v: RunningWorkload) -> Set<Int16> { Set(v.placements.map { cluster.pool[$0.node] }) }
}

/// What decides whether preemption can make room for a gang: its shape, its team (whose borrowers it may reclaim from)
/// and its priority. Admissions in a cycle only take room, so a failure stays a failure until something is released.
struct PreemptionKey: Hashable {
    var shape: ShapeKey
    var team: String
    var priority: Int
}
