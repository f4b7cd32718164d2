import PropertyBased
import Testing
@testable import TarmacEngine

/// Node classes, and the scheduler's kept state: parked workloads are examined again only when something that could
/// let them in changes, and parking never hides a workload that could be admitted.
@Suite struct SchedulerStateTests {
    /// Random assignments and releases on a random world's cluster.
    static func churned(_ seed: UInt64) -> ClusterState {
        var c = EnginePropertyTests.world(seed).snapshot.cluster
        var rng = SplitMix64(seed: seed ^ 0xC1A55)
        var placed: [(PodShape, Placement)] = []
        for _ in 0..<60 {
            if !placed.isEmpty, Int.random(in: 0..<3, using: &rng) == 0 {
                let (pod, p) = placed.remove(at: Int.random(in: 0..<placed.count, using: &rng))
                c.release(pod, from: p)
                continue
            }
            let pod = [Build.gpuPod(1), Build.gpuPod(2), PodShape(cpuMilli: 1000, memoryMiB: 1024, gpuCount: 1, gpuMilli: 250),
                       PodShape(cpuMilli: 500, memoryMiB: 512, gpuCount: 0, gpuMilli: 0)].randomElement(using: &rng)!
            var policy: any PlacementPolicy = RandomPolicy()
            if let p = policy.place(pod, in: c, rng: &rng) {
                c.assign(pod, to: p)
                placed.append((pod, p))
            }
        }
        return c
    }

    @Test func nodeClassesAreTheNodesInEachState() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let c = Self.churned(seed)
            var byKey: [NodeClasses.Key: [Int]] = [:]
            for n in 0..<c.count { byKey[c.classKey(n), default: []].append(n) }
            #expect(c.classes.liveCount == byKey.count)
            for n in 0..<c.count {
                let first = c.classes.first(c.classes.classOf[n])
                #expect(first == byKey[c.classKey(n)]!.first, "node \(n): its group's first node is \(first)")
                #expect(c.classKey(first) == c.classKey(n))
            }
            #expect(c.classes.live.reduce(0) { $0 + Int(c.classes.counts[Int($1)]) } == c.count)
        }
    }

    /// Scoring one node per group chooses exactly what scoring every node in turn chooses (a node list takes that path).
    @Test(arguments: [PolicyName.bestFit, .dotProduct, .gpuPacking, .fgd])
    func groupedScoringChoosesWhatNodeByNodeScoringChooses(_ name: PolicyName) async {
        await propertyCheck(count: 100, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            let c = Self.churned(seed)
            let everyNode = NodeFilter(nodes: Array(0..<c.count))
            for pod in [Build.gpuPod(1), Build.gpuPod(4), PodShape(cpuMilli: 1000, memoryMiB: 1024, gpuCount: 1, gpuMilli: 500),
                        PodShape(cpuMilli: 2000, memoryMiB: 1024, gpuCount: 0, gpuMilli: 0)] {
                var a = name.make(typical: [TypicalPod(shape: pod, share: 1)]), b = a
                var r1 = SplitMix64(seed: 1), r2 = SplitMix64(seed: 1)
                #expect(a.place(pod, in: c, among: .all, rng: &r1) == b.place(pod, in: c, among: everyNode, rng: &r2))
            }
        }
    }

    /// Kept state through arrivals and completions, cycling until nothing more happens: then a cycle over everything
    /// (as a fresh snapshot) admits nothing either — no parked workload could have been admitted. GPU work names one
    /// model here: where a gang may use several, which model its best placement lands on depends on what else runs, so
    /// less free capacity can (rarely) let in what more did not, and only the periodic recheck finds it.
    @Test func parkingHidesNothingAdmissible() async {
        await propertyCheck(count: 150, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var w = EnginePropertyTests.world(seed)
            w.future = w.future.map { f in
                var f = f
                f.pods = f.pods.map { p in
                    var p = p
                    if p.usesGPU && p.models.isAny { p.models = .only([1]) }
                    return p
                }
                return f
            }
            var state = SchedulerState(snapshot: w.snapshot)
            var rng = SplitMix64(seed: seed ^ 0xBEEF)
            var policy: any PlacementPolicy = BestFitPolicy()
            let scheduler = Scheduler(config: SchedulerConfig(reservationAfter: .max, preemption: false, explain: false))
            for step in 0..<10 {
                state.now = Int64(step) * 1000
                for a in w.future.prefix(4) { state.submit(a) }
                w.future.removeFirst(min(4, w.future.count))
                for id in state.running.keys.sorted() where Int.random(in: 0..<3, using: &rng) == 0 { state.finish(id) }
                var cycles = 0
                repeat {
                    let d = scheduler.cycle(&state, policy: &policy, rng: &rng)
                    #expect(Set(d.admitted.map(\.id)).isSubset(of: Set(state.running.keys)))
                    cycles += 1
                } while state.activeCount > 0 && cycles < 10
                #expect(state.activeCount == 0)
                let snapshot = Snapshot(now: state.now, cluster: state.cluster, running: Array(state.running.values),
                                        pending: Array(state.pending.values), quotas: Array(state.book.teams.values))
                var p2: any PlacementPolicy = BestFitPolicy()
                var r2 = SplitMix64(seed: 3)
                let fresh = scheduler.cycle(snapshot, policy: &p2, rng: &r2)
                #expect(fresh.admitted.isEmpty, "seed \(seed) step \(step): parked \(fresh.admitted.map(\.id)) could be admitted")
            }
        }
    }

    @Test func aCycleWithNothingChangedExaminesNothing() {
        var state = SchedulerState(now: 0, cluster: Build.cluster(nodes: 1, gpus: 8), quotas: [Build.gpuQuota("a", 100)])
        state.submit(Build.gang("big", team: "a", workers: 1, gpus: 8))
        state.submit(Build.gang("next", team: "a", workers: 1, gpus: 4, at: 1))
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        let scheduler = Scheduler(config: SchedulerConfig(explain: false))
        let first = scheduler.cycle(&state, policy: &policy, rng: &rng)
        #expect(first.admitted.map(\.id) == ["big"] && first.waiting.keys.sorted() == ["next"])
        #expect(state.parkedCount == 1 && state.activeCount == 0)
        state.now = 1000
        let idle = scheduler.cycle(&state, policy: &policy, rng: &rng)
        #expect(idle.admitted.isEmpty && idle.waiting.isEmpty, "nothing changed, so nothing is examined")
        #expect(state.reason("next")?.kind == "shape")
        // Capacity freed in its pool: examined again, and admitted.
        state.finish("big")
        #expect(state.activeCount == 1)
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["next"])
    }

    @Test func quotaFreedInTheCohortWakesWhatWaitedForIt() {
        var state = SchedulerState(now: 0, cluster: Build.cluster(nodes: 2, gpus: 8),
                                   quotas: [Build.gpuQuota("a", 4, cohort: "c"), Build.gpuQuota("b", 4, cohort: "c")])
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        let scheduler = Scheduler(config: SchedulerConfig(preemption: false, explain: false))
        state.submit(Build.gang("b1", team: "b", workers: 1, gpus: 8))
        state.submit(Build.gang("a1", team: "a", workers: 1, gpus: 2, at: 1))
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["b1"])
        #expect(state.reason("a1")?.kind == "quota")
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).waiting.isEmpty)
        state.finish("b1")
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["a1"])
    }

    @Test func theRecheckExaminesParkedWorkAgainAfterItsPeriod() {
        var state = SchedulerState(now: 0, cluster: Build.cluster(nodes: 1, gpus: 8), quotas: [Build.gpuQuota("a", 100)])
        state.submit(Build.gang("too-big", team: "a", workers: 2, gpus: 8))
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        let scheduler = Scheduler(config: SchedulerConfig(explain: false, recheckAfter: 5000))
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).waiting.keys.sorted() == ["too-big"])
        state.now = 4999
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).waiting.isEmpty)
        state.now = 5000
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).waiting.keys.sorted() == ["too-big"])
    }

    @Test func aReservationOutlivesItsCycleUntilItsHolderStarts() {
        // 2 nodes; a 2-node gang waits behind running work; small newcomers may not take what it waits for.
        var state = SchedulerState(now: 0, cluster: Build.cluster(nodes: 2, gpus: 8), quotas: [Build.gpuQuota("a", 100)])
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        let scheduler = Scheduler(config: SchedulerConfig(reservationAfter: 100, preemption: false, explain: false))
        state.submit(Build.gang("running", team: "a", workers: 1, gpus: 4))
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["running"])
        state.submit(Build.gang("gang", team: "a", workers: 2, gpus: 8, at: 0))
        state.now = 200
        let d = scheduler.cycle(&state, policy: &policy, rng: &rng)
        #expect(d.reservedFor == "gang" && state.reservedFor == "gang")
        state.submit(Build.gang("small", team: "a", workers: 1, gpus: 2, at: 200))
        state.now = 300
        let later = scheduler.cycle(&state, policy: &policy, rng: &rng)
        #expect(later.admitted.isEmpty && later.waiting["small"] == .reservation(for: "gang"))
        state.finish("running")
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["gang"])
        #expect(state.reservedFor == nil)
        // The reservation ended: what waited behind it is examined (and does not fit: the gang holds both nodes).
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).waiting["small"]?.kind == "shape")
    }

    @Test func identicalWorkloadsBehindOneThatFailedWaitForTheSameReason() {
        // One 8-GPU node, half busy (user v); identical 8-GPU gangs wait: g0-g2, g4 of user u, and g3 of v, which is old
        // enough to claim a reservation but comes second in line (v already runs one). g0 is tried and fails; g3 is not
        // skipped with it: it is tried and reserves; the rest wait behind the reservation.
        var state = SchedulerState(now: 0, cluster: Build.cluster(nodes: 1, gpus: 8), quotas: [Build.gpuQuota("a", 100)])
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        state.submit(Build.gang("busy", team: "a", user: "v", workers: 1, gpus: 4))
        let scheduler = Scheduler(config: SchedulerConfig(reservationAfter: 1000, preemption: false, explain: true))
        #expect(scheduler.cycle(&state, policy: &policy, rng: &rng).admitted.map(\.id) == ["busy"])
        for i in [0, 1, 2, 4] { state.submit(Build.gang("g\(i)", team: "a", user: "u", workers: 1, gpus: 8, at: Int64(100 + i))) }
        state.submit(Build.gang("g3", team: "a", user: "v", workers: 1, gpus: 8, at: -5000))
        state.now = 500
        let d = scheduler.cycle(&state, policy: &policy, rng: &rng)
        #expect(d.admitted.isEmpty && d.waiting.count == 5)
        #expect(d.reservedFor == "g3", "the old one behind the first failure is still tried, and reserves")
        #expect(d.waiting["g0"]?.kind == "shape" && d.waiting["g3"]?.kind == "shape")
        for id in ["g1", "g2", "g4"] { #expect(d.waiting[id] == .reservation(for: "g3"), "\(id): \(String(describing: d.waiting[id]))") }
    }
}
