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

    /// The start of `target` (one of `waiting`), running the cycle forward from `now`.
    public func estimate(target: String, now: Int64, cluster: ClusterState, running: [Running], waiting: [Waiting], quotas: [TeamQuota],
                         policy: any PlacementPolicy, rng: SplitMix64) -> Estimate {
        var t = now
        // Work past its end that has not ended yet ends now.
        var run = running.map { Running($0.workload, end: $0.end.map { max($0, now) }) }
        var wait = waiting
        var admittedBefore = 0
        var firstWait: WaitReason?
        for cycle in 1...max(1, maxCycles) {
            // 1. Snapshot at t: the cluster with what runs assigned.
            var c = cluster
            for r in run { for (pod, pl) in zip(r.workload.workload.pods, r.workload.placements) { c.assign(pod, to: pl) } }
            // 2. Decide, as the control plane's cycle does.
            var p = policy, g = rng
            let d = scheduler.cycle(Snapshot(now: t, cluster: c, running: run.map(\.workload), pending: wait.map(\.workload), quotas: quotas),
                                    policy: &p, rng: &g)
            if cycle == 1 { firstWait = d.waiting[target] }
            // 3. Preempted work waits again for its whole run.
            for victim in d.preempted {
                guard let i = run.firstIndex(where: { $0.workload.workload.id == victim.id }) else { continue }
                let r = run.remove(at: i)
                if victim.id == target { continue }
                wait.append(Waiting(r.workload.workload, duration: r.end.map { max(0, $0 - r.workload.started) }))
            }
            // 4. Admitted: the target's start is the answer; the others run from now for their duration.
            for a in d.admitted {
                guard let i = wait.firstIndex(where: { $0.workload.id == a.id }) else { continue }
                let w = wait.remove(at: i)
                if a.id == target {
                    return Estimate(start: t, cycles: cycle, admittedBefore: admittedBefore, unknownEnds: run.filter { $0.end == nil }.count, stopped: nil, firstWait: firstWait)
                }
                admittedBefore += 1
                run.append(Running(RunningWorkload(workload: w.workload, placements: a.placements, charged: a.charged, started: t),
                                   end: w.duration.map { t + max(1, $0) }))
            }
            // Something started: the same instant may admit more (a cycle takes what fits in one pass).
            if !d.admitted.isEmpty || !d.preempted.isEmpty { continue }
            // 5. Advance to the next known end; without one, nothing changes any more.
            guard let next = run.compactMap(\.end).filter({ $0 >= t }).min() else {
                return Estimate(start: nil, cycles: cycle, admittedBefore: admittedBefore, unknownEnds: run.filter { $0.end == nil }.count, stopped: "holds", firstWait: firstWait)
            }
            run.removeAll { ($0.end ?? .max) <= next }
            t = next
        }
        return Estimate(start: nil, cycles: maxCycles, admittedBefore: admittedBefore, unknownEnds: run.filter { $0.end == nil }.count, stopped: "cycles", firstWait: firstWait)
    }
}
