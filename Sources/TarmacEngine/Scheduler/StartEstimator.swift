/// When a waiting workload would start if nothing else arrives: the scheduler run forward in virtual time from a
/// snapshot of now. Each running workload ends at its known end (its deadline, or when a known run time is up), each one
/// admitted on the way runs for its known duration, and at every end the same cycle as the control plane's decides
/// again. Pure: no clock, no I/O; the answer is exact when the assumptions hold (ends as stated, nothing new arrives,
/// nothing fails), which `Estimate` lists.
public struct StartEstimator: Sendable {
    public var scheduler: Scheduler
    /// At most this many cycles are run (an answer further out says it gave up).
    public var maxCycles: Int

    public init(scheduler: Scheduler = Scheduler(), maxCycles: Int = 2_000) {
        self.scheduler = scheduler
        self.maxCycles = maxCycles
    }

    /// A running workload and when it ends (nil: no known end, so it holds its room for as long as the estimate looks).
    public struct Running: Sendable {
        public var workload: RunningWorkload
        public var end: Int64?
        public init(_ workload: RunningWorkload, end: Int64?) {
            self.workload = workload
            self.end = end
        }
    }

    /// A waiting workload and how long it runs once started (nil: unknown, it holds its room from then on).
    public struct Waiting: Sendable {
        public var workload: PendingWorkload
        public var duration: Int64?
        public init(_ workload: PendingWorkload, duration: Int64?) {
            self.workload = workload
            self.duration = duration
        }
    }

    public struct Estimate: Sendable, Equatable {
        /// When it is admitted (ms on the snapshot's clock), nil when it is not within what is known.
        public var start: Int64?
        /// Cycles run to get there.
        public var cycles: Int
        /// Workloads ahead of it that were admitted first in the run forward.
        public var admittedBefore: Int
        /// Running or earlier-admitted work with no known end that still held room when the estimate stopped.
        public var unknownEnds: Int
        /// Why there is no start: "holds" (work with no known end keeps the room), "cycles" (gave up after `maxCycles`).
        public var stopped: String?
        /// Why it waited at the first cycle (nil when it was admitted there): what it waits for now.
        public var firstWait: WaitReason?
    }

    /// Every waiting workload's start from one run forward: what a page of the queue (or each `why`) reads, instead
    /// of one run per workload.
    public struct Forecast: Sendable, Equatable {
        /// When each is admitted (ms); absent: not within what is known.
        public var starts: [String: Int64]
        /// How many others were admitted before each one, in the run.
        public var admittedBefore: [String: Int]
        /// Why each waited at the first cycle.
        public var firstWait: [String: WaitReason]
        public var cycles: Int
        /// Work with no known end still holding room when the run stopped.
        public var unknownEnds: Int
        /// Why the run stopped before every workload started: "holds" or "cycles" (nil: all started).
        public var stopped: String?

        /// One workload's answer.
        public func estimate(_ id: String) -> Estimate {
            Estimate(start: starts[id], cycles: cycles, admittedBefore: admittedBefore[id] ?? starts.count, unknownEnds: unknownEnds,
                     stopped: starts[id] == nil ? (stopped ?? "holds") : nil, firstWait: firstWait[id])
        }
    }

    /// The start of `target` (one of `waiting`), running the cycle forward from `now` until it is admitted.
    public func estimate(target: String, now: Int64, cluster: ClusterState, running: [Running], waiting: [Waiting], quotas: [TeamQuota],
                         policy: any PlacementPolicy, rng: SplitMix64) -> Estimate {
        forecast(until: target, now: now, cluster: cluster, running: running, waiting: waiting, quotas: quotas, policy: policy, rng: rng).estimate(target)
    }

    /// Every waiting workload's start (or, with `until`, as far as that one's), running the cycle forward from `now`.
    public func forecast(until target: String? = nil, now: Int64, cluster: ClusterState, running: [Running], waiting: [Waiting], quotas: [TeamQuota],
                         policy: any PlacementPolicy, rng: SplitMix64) -> Forecast {
        var t = now
        // Work past its end that has not ended yet ends now.
        var run = running.map { Running($0.workload, end: $0.end.map { max($0, now) }) }
        var wait = waiting
        var out = Forecast(starts: [:], admittedBefore: [:], firstWait: [:], cycles: 0, unknownEnds: 0, stopped: nil)
        var admitted = 0
        func done(_ stopped: String?) -> Forecast {
            out.unknownEnds = run.filter { $0.end == nil }.count
            out.stopped = stopped
            return out
        }
        for cycle in 1...max(1, maxCycles) {
            out.cycles = cycle
            // 1. Snapshot at t: the cluster with what runs assigned.
            var c = cluster
            for r in run { for (pod, pl) in zip(r.workload.workload.pods, r.workload.placements) { c.assign(pod, to: pl) } }
            // 2. Decide, as the control plane's cycle does.
            var p = policy, g = rng
            let d = scheduler.cycle(Snapshot(now: t, cluster: c, running: run.map(\.workload), pending: wait.map(\.workload), quotas: quotas),
                                    policy: &p, rng: &g)
            if cycle == 1 { out.firstWait = d.waiting }
            // 3. Preempted work waits again for its whole run.
            for victim in d.preempted {
                guard let i = run.firstIndex(where: { $0.workload.workload.id == victim.id }) else { continue }
                let r = run.remove(at: i)
                wait.append(Waiting(r.workload.workload, duration: r.end.map { max(0, $0 - r.workload.started) }))
            }
            // 4. Admitted: each start is an answer; they run from now for their duration.
            for a in d.admitted {
                guard let i = wait.firstIndex(where: { $0.workload.id == a.id }) else { continue }
                let w = wait.remove(at: i)
                if out.starts[a.id] == nil {
                    out.starts[a.id] = t
                    out.admittedBefore[a.id] = admitted
                    admitted += 1
                }
                run.append(Running(RunningWorkload(workload: w.workload, placements: a.placements, charged: a.charged, started: t),
                                   end: w.duration.map { t + max(1, $0) }))
            }
            if let target, out.starts[target] != nil { return done(nil) }
            if wait.isEmpty { return done(nil) }
            // Something started: the same instant may admit more (a cycle takes what fits in one pass).
            if !d.admitted.isEmpty || !d.preempted.isEmpty { continue }
            // 5. Advance to the next known end; without one, nothing changes any more.
            guard let next = run.compactMap(\.end).filter({ $0 >= t }).min() else { return done("holds") }
            run.removeAll { ($0.end ?? .max) <= next }
            t = next
        }
        return done("cycles")
    }
}
