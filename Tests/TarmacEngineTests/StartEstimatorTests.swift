import PropertyBased
import Testing
@testable import TarmacEngine

/// The estimator run forward: its answers agree with the cycles it runs, one workload at a time or all at once.
@Suite struct StartEstimatorTests {
    /// A random world's workloads all waiting at once, each with a random run time (some unknown).
    static func scenario(_ seed: UInt64) -> (Snapshot, [StartEstimator.Waiting]) {
        let w = EnginePropertyTests.world(seed)
        var rng = SplitMix64(seed: seed ^ 0xE57)
        let waiting = w.future.map { StartEstimator.Waiting($0, duration: Int.random(in: 0..<5, using: &rng) == 0 ? nil : Int64.random(in: 1...20, using: &rng) * 1000) }
        return (w.snapshot, waiting)
    }

    @Test func oneRunForAllGivesEachWorkloadsOwnAnswer() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...1_000_000)) { seed in
            let (s, waiting) = Self.scenario(UInt64(seed))
            let estimator = StartEstimator()
            let policy: any PlacementPolicy = BestFitPolicy()
            let all = estimator.forecast(now: 0, cluster: s.cluster, running: [], waiting: waiting, quotas: s.quotas, policy: policy, rng: SplitMix64(seed: 1))
            for w in waiting.prefix(8) {
                let one = estimator.estimate(target: w.workload.id, now: 0, cluster: s.cluster, running: [], waiting: waiting, quotas: s.quotas, policy: policy,
                                             rng: SplitMix64(seed: 1))
                #expect(one.start == all.starts[w.workload.id], "\(w.workload.id): alone \(String(describing: one.start)), with all \(String(describing: all.starts[w.workload.id]))")
            }
            // Starts only happen at the start or at an end of something known.
            for (_, t) in all.starts { #expect(t >= 0) }
        }
    }

    @Test func aWorkloadStartsWhenTheJobHoldingItsGPUsEnds() {
        let c = Build.cluster(nodes: 1, gpus: 8)
        let holder = Build.gang("holder", team: "a", workers: 1, gpus: 8)
        var assigned = c
        let placement = Placement(node: 0, gpus: GPUSet(Array(0..<8)))
        assigned.assign(holder.pods[0], to: placement)
        let running = StartEstimator.Running(RunningWorkload(workload: holder, placements: [placement], charged: .zero, started: 0), end: 60_000)
        let next = Build.gang("next", team: "a", workers: 1, gpus: 4, at: 1)
        let after = Build.gang("after", team: "a", workers: 1, gpus: 8, at: 2)
        let f = StartEstimator().forecast(now: 1000, cluster: c, running: [running], waiting: [.init(next, duration: 30_000), .init(after, duration: nil)],
                                          quotas: [Build.gpuQuota("a", 64)], policy: BestFitPolicy(), rng: SplitMix64(seed: 1))
        #expect(f.starts["next"] == 60_000, "the holder's end")
        #expect(f.starts["after"] == 90_000, "next's end: 60 s + its 30 s")
        #expect(f.admittedBefore["after"] == 1)
        #expect(f.firstWait["next"] != nil, "it waits at first, with a reason")
        #expect(f.stopped == nil && f.unknownEnds == 1, "after runs on with no known end")
        let none = StartEstimator().forecast(now: 1000, cluster: c, running: [.init(running.workload, end: nil)], waiting: [.init(next, duration: 1)],
                                             quotas: [Build.gpuQuota("a", 64)], policy: BestFitPolicy(), rng: SplitMix64(seed: 1))
        #expect(none.starts.isEmpty && none.stopped == "holds")
    }
}
