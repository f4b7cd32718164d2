@testable import TarmacEngine

/// Small clusters and workloads for engine tests.
enum Build {
    /// `nodes` nodes of `gpus` GPUs of `model`, 64 cores and 512 GiB each, spread over `domains` topology domains.
    static func cluster(nodes: Int, gpus: Int = 8, model: String = "h100", domains: Int = 1) -> ClusterState {
        var c = ClusterState()
        for i in 0..<nodes {
            c.addNode(name: "n\(i)", cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus: gpus, model: model, domain: Int32(i % domains))
        }
        return c
    }

    static func gpuPod(_ gpus: Int, cpu: Int32 = 4000, model: UInt8 = 1) -> PodShape {
        PodShape(cpuMilli: cpu, memoryMiB: 16 * 1024, gpuCount: gpus, gpuMilli: 1000, models: .only([model]))
    }

    static func gang(_ id: String, team: String, user: String = "u", workers: Int, gpus: Int, priority: Int = 0, at t: Int64 = 0,
                     sameDomain: Bool = false, minRuntime: Int64 = 0) -> PendingWorkload {
        PendingWorkload(id: id, team: team, user: user, priority: priority, submitted: t, pods: Array(repeating: gpuPod(gpus), count: workers),
                        sameDomain: sameDomain, minRuntime: minRuntime)
    }

    static func gpuQuota(_ team: String, _ gpus: Int, cohort: String? = nil, borrow: Int? = nil, weight: Double = 1) -> TeamQuota {
        var nominal = Resources(cpuMilli: 1_000_000, memoryMiB: 100_000_000)
        nominal.addGPU(1, Int64(gpus * 1000))
        let b: Resources? = borrow.map { var r = Resources(cpuMilli: 1_000_000, memoryMiB: 100_000_000); r.addGPU(1, Int64($0 * 1000)); return r }
        return TeamQuota(name: team, nominal: nominal, cohort: cohort, borrowingLimit: b, weight: weight)
    }

    /// Runs one cycle with the Tarmac policy (deterministic).
    static func cycle(_ s: Snapshot, config: SchedulerConfig = SchedulerConfig()) -> Decision {
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        return Scheduler(config: config).cycle(s, policy: &policy, rng: &rng)
    }

    /// The snapshot after applying a decision (admitted workloads start running now).
    static func apply(_ d: Decision, to s: Snapshot) -> Snapshot {
        var next = s
        let pending = Dictionary(uniqueKeysWithValues: s.pending.map { ($0.id, $0) })
        for p in d.preempted {
            if let i = next.running.firstIndex(where: { $0.workload.id == p.id }) {
                let v = next.running.remove(at: i)
                for (pod, at) in zip(v.workload.pods, v.placements) { next.cluster.release(pod, from: at) }
                next.pending.append(v.workload)
            }
        }
        for a in d.admitted {
            let w = pending[a.id] ?? next.pending.first { $0.id == a.id }!
            for (pod, at) in zip(w.pods, a.placements) { next.cluster.assign(pod, to: at) }
            next.running.append(RunningWorkload(workload: w, placements: a.placements, charged: a.charged, started: s.now))
            next.pending.removeAll { $0.id == a.id }
        }
        return next
    }
}
