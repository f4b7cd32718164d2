import TarmacEngine

/// A workload in a simulation: when it arrives, how long it runs once started, and its class (for reports).
public struct SimulatedWorkload: Sendable {
    public var workload: PendingWorkload
    public var arrival: Int64
    public var duration: Int64
    public var workloadClass: String
    /// Saves progress this often (ms); preemption loses the work since the last save. nil: loses everything.
    public var checkpointEvery: Int64?
    /// Fails (and is not retried) after running this long, if set.
    public var failsAfter: Int64?

    public init(workload: PendingWorkload, arrival: Int64, duration: Int64, workloadClass: String, checkpointEvery: Int64? = nil, failsAfter: Int64? = nil) {
        self.workload = workload
        self.arrival = arrival
        self.duration = duration
        self.workloadClass = workloadClass
        self.checkpointEvery = checkpointEvery
        self.failsAfter = failsAfter
    }
}

/// Virtual-time simulation with the real engine: at every arrival and completion, one scheduling cycle.
public struct Simulation {
    public var cluster: ClusterState
    public var quotas: [TeamQuota]
    public var workloads: [SimulatedWorkload]
    public var scheduler: Scheduler
    public var policy: PolicyName
    public var seed: UInt64
    /// GPU-hours each team may use over the replay (its budget, as the engine sees it: one more quota dimension). Once
    /// a team has used them, its waiting and later work is held, as `tarmac up` holds it.
    public var budgets: [String: Double] = [:]

    public init(cluster: ClusterState, quotas: [TeamQuota], workloads: [SimulatedWorkload], policy: PolicyName = .tarmac,
                scheduler: Scheduler = Scheduler(config: SchedulerConfig(explain: false)), seed: UInt64 = 1) {
        self.cluster = cluster
        self.quotas = quotas
        self.workloads = workloads.sorted { ($0.arrival, $0.workload.id) < ($1.arrival, $1.workload.id) }
        self.scheduler = scheduler
        self.policy = policy
        self.seed = seed
    }

    struct Live {
        var spec: SimulatedWorkload
        var remaining: Int64
        var firstAdmitted: Int64?
        var end: Int64 = 0
        var started: Int64 = 0
    }

    public func run(progress: ((Double) -> Void)? = nil) -> SimulationReport {
        let typical = TypicalPod.from(workloads.flatMap(\.workload.pods))
        var policy = self.policy.make(typical: typical)
        var rng = SplitMix64(seed: seed)
        // The engine's kept state: arrivals are submitted, completions finish, and each cycle examines only what
        // something could have let in.
        var state = SchedulerState(now: 0, cluster: cluster, quotas: quotas)
        var live: [String: Live] = [:]
        var next = 0
        let totalCPU = cluster.cpuCapacity.reduce(0) { $0 + Int($1) }
        var report = SimulationReport(policy: self.policy.rawValue, totalGPUMilli: cluster.totalGPUMilli, totalCPUMilli: totalCPU)
        var lastTime: Int64 = 0
        var cycles = 0

        func account(until t: Int64, _ c: ClusterState) {
            let dt = Double(t - lastTime)
            guard dt > 0 else { return }
            report.gpuMilliTime += Double(c.allocatedGPUMilli) * dt
            report.cpuMilliTime += Double(totalCPU - c.cpuFree.reduce(0) { $0 + Int(max(0, $1)) }) * dt
            var partial = 0
            for n in 0..<c.count { for g in 0..<Int(c.gpuCount[n]) where c.free(n, g) > 0 && c.free(n, g) < 1000 { partial += Int(c.free(n, g)) } }
            report.partialGPUMilliTime += Double(partial) * dt
            lastTime = t
        }

        // GPU-milli-milliseconds each budgeted team used so far.
        var spent: [String: Double] = [:]
        while next < workloads.count || !state.pending.isEmpty || !state.running.isEmpty {
            // The next event: an arrival or a completion (or a budget running out, between two of them).
            let nextArrival = next < workloads.count ? workloads[next].arrival : Int64.max
            let nextEnd = state.running.keys.map { live[$0]!.end }.min() ?? Int64.max
            var t = min(nextArrival, nextEnd)
            if t == Int64.max { break }  // pending work that can never run
            if !budgets.isEmpty {
                var rate: [String: Double] = [:]
                for r in state.running.values where budgets[r.workload.team] != nil { rate[r.workload.team, default: 0] += Double(r.workload.gpuMilli) }
                for (team, milli) in rate where report.budgetHolds[team] == nil && milli > 0 {
                    let left = budgets[team]! * 1000 * 3_600_000 - spent[team, default: 0]
                    t = min(t, lastTime + max(0, Int64((left / milli).rounded(.up))))
                }
                for (team, milli) in rate { spent[team, default: 0] += milli * Double(t - lastTime) }
            }
            account(until: t, state.cluster)
            state.now = t
            for (team, limit) in budgets.sorted(by: { $0.key < $1.key }) where report.budgetHolds[team] == nil && spent[team, default: 0] >= limit * 1000 * 3_600_000 {
                let used = spent[team, default: 0] / 1000 / 3_600_000
                state.hold(team: team, QuotaShortfall(resource: "budget:gpu-hours", needed: Int64(used * 1000), available: Int64(limit * 1000),
                                                      detail: "team \(team) used \(String(format: "%.2f", used)) of its \(String(format: "%g", limit)) GPU-hours"))
                report.budgetHolds[team] = t
            }
            // Completions and failures.
            for id in state.running.keys.sorted() where live[id]!.end <= t {
                guard let r = state.finish(id) else { continue }
                for (pod, p) in zip(r.workload.pods, r.placements) { policy.didRelease(pod, from: p, in: state.cluster) }
                let l = live[id]!
                // It failed if it stopped at its failure point, before its work was done.
                if let f = l.spec.failsAfter, f < l.remaining { report.failed += 1 } else { report.completed += 1 }
                report.makespan = max(report.makespan, t)
            }
            // Arrivals.
            while next < workloads.count && workloads[next].arrival <= t {
                let w = workloads[next]
                live[w.workload.id] = Live(spec: w, remaining: w.duration)
                state.submit(w.workload)
                next += 1
            }
            let before = state.running
            let d = scheduler.cycle(&state, policy: &policy, rng: &rng)
            cycles += 1
            // Preemptions (the engine released them): back to the queue, resuming from the last checkpoint.
            for p in d.preempted {
                guard let v = before[p.id] else { continue }
                var l = live[p.id]!
                let ran = t - l.started
                let saved = l.spec.checkpointEvery.map { ran / $0 * $0 } ?? 0
                l.remaining -= saved
                report.lostGPUMilliSeconds += Double(ran - saved) * Double(v.workload.gpuMilli)
                live[p.id] = l
                report.preemptions += 1
                state.submit(v.workload)
            }
            for a in d.admitted {
                guard let w = state.running[a.id]?.workload else { continue }
                var l = live[a.id]!
                if l.firstAdmitted == nil {
                    l.firstAdmitted = t
                    report.waits.append(.init(team: w.team, workloadClass: l.spec.workloadClass, milliseconds: t - l.spec.arrival))
                }
                l.started = t
                let runFor = l.spec.failsAfter.map { min($0, l.remaining) } ?? l.remaining
                l.end = t + max(1, runFor)
                live[a.id] = l
            }
            if let progress, cycles % 256 == 0 { progress(Double(next) / Double(max(1, workloads.count))) }
        }
        report.neverAdmitted = state.pending.count
        report.cycles = cycles
        progress?(1)
        return report
    }
}

/// What a simulation measured.
public struct SimulationReport: Sendable, Codable {
    /// When (ms) each budgeted team had used its GPU-hours and was held.
    public var budgetHolds: [String: Int64] = [:]
    public struct Wait: Sendable, Codable {
        public var team: String
        public var workloadClass: String
        public var milliseconds: Int64
    }

    public var policy: String
    public var totalGPUMilli: Int
    public var totalCPUMilli: Int
    public var makespan: Int64 = 0
    public var completed = 0
    public var failed = 0
    public var neverAdmitted = 0
    public var preemptions = 0
    public var cycles = 0
    public var lostGPUMilliSeconds = 0.0
    var gpuMilliTime = 0.0
    var cpuMilliTime = 0.0
    var partialGPUMilliTime = 0.0
    public var waits: [Wait] = []

    /// Time-averaged share of GPU allocated, in percent.
    public var gpuAllocation: Double { totalGPUMilli == 0 || makespan == 0 ? 0 : gpuMilliTime / Double(makespan) / Double(totalGPUMilli) * 100 }
    public var cpuAllocation: Double { totalCPUMilli == 0 || makespan == 0 ? 0 : cpuMilliTime / Double(makespan) / Double(totalCPUMilli) * 100 }
    /// Time-averaged share of GPU capacity idle in partly used GPUs, in percent.
    public var fragmentation: Double { totalGPUMilli == 0 || makespan == 0 ? 0 : partialGPUMilliTime / Double(makespan) / Double(totalGPUMilli) * 100 }
    public var lostGPUHours: Double { lostGPUMilliSeconds / 1000 / 1000 / 3600 }

    /// Wait percentiles (ms) and mean, grouped by a key.
    public func waitStats(by key: (Wait) -> String) -> [(key: String, count: Int, mean: Double, p50: Int64, p95: Int64, p99: Int64)] {
        Dictionary(grouping: waits, by: key).map { k, ws in
            let sorted = ws.map(\.milliseconds).sorted()
            func pct(_ p: Double) -> Int64 { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))] }
            return (k, ws.count, Double(sorted.reduce(0, +)) / Double(ws.count), pct(0.5), pct(0.95), pct(0.99))
        }.sorted { $0.key < $1.key }
    }
}
