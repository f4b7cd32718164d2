import PropertyBased
import Testing
@testable import TarmacEngine

/// Invariants of the engine over random clusters, teams and workloads, across many cycles with completions.
@Suite struct EnginePropertyTests {
    struct World {
        var snapshot: Snapshot
        var future: [PendingWorkload]
    }

    /// A random world from a seed: 1-10 nodes of two GPU models in 1-3 domains of 1-3 clusters, 2-4 teams in up to 2 cohorts.
    static func world(_ seed: UInt64) -> World {
        var rng = SplitMix64(seed: seed)
        var c = ClusterState()
        let domains = Int.random(in: 1...3, using: &rng)
        let clusters = Int.random(in: 1...3, using: &rng)
        for i in 0..<Int.random(in: 1...10, using: &rng) {
            let gpus = [0, 2, 4, 8].randomElement(using: &rng)!
            c.addNode(name: "n\(i)", cpuMilli: Int32.random(in: 8...64, using: &rng) * 1000, memoryMiB: Int32.random(in: 16...256, using: &rng) * 1024,
                      gpus: gpus, model: gpus == 0 ? nil : ["a100", "h100"].randomElement(using: &rng)!, domain: Int32(i % domains),
                      cluster: Int16((i / 2) % clusters))
        }
        let teams = (0..<Int.random(in: 2...4, using: &rng)).map { "t\($0)" }
        let quotas = teams.map { t in
            var nominal = Resources(cpuMilli: Int64.random(in: 4...64, using: &rng) * 1000, memoryMiB: Int64.random(in: 16...512, using: &rng) * 1024)
            for m in 1...2 { nominal.addGPU(m, Int64.random(in: 0...12, using: &rng) * 1000) }
            var borrow: Resources?
            if Bool.random(using: &rng) {
                var b = Resources(cpuMilli: Int64.random(in: 0...32, using: &rng) * 1000, memoryMiB: Int64.random(in: 0...256, using: &rng) * 1024)
                for m in 1...2 { b.addGPU(m, Int64.random(in: 0...8, using: &rng) * 1000) }
                borrow = b
            }
            return TeamQuota(name: t, nominal: nominal, cohort: ["x", "y", nil].randomElement(using: &rng)!, borrowingLimit: borrow,
                             weight: Double.random(in: 0.5...2, using: &rng))
        }
        var future: [PendingWorkload] = []
        for i in 0..<Int.random(in: 5...40, using: &rng) {
            let kind = Int.random(in: 0..<4, using: &rng)
            let models: ModelSet = Bool.random(using: &rng) ? .any : .only([UInt8.random(in: 1...2, using: &rng)])
            let pod: PodShape = switch kind {
            case 0: PodShape(cpuMilli: Int32.random(in: 1...8, using: &rng) * 500, memoryMiB: 1024, gpuCount: 0, gpuMilli: 0)
            case 1: PodShape(cpuMilli: 1000, memoryMiB: 2048, gpuCount: 1, gpuMilli: [250, 500, 300].randomElement(using: &rng)!, models: models)
            default: PodShape(cpuMilli: 2000, memoryMiB: 4096, gpuCount: [1, 2, 4, 8].randomElement(using: &rng)!, gpuMilli: 1000, models: models)
            }
            future.append(PendingWorkload(id: "w\(i)", team: teams.randomElement(using: &rng)!, user: ["u1", "u2"].randomElement(using: &rng)!,
                                          priority: Int.random(in: 0...3, using: &rng), submitted: Int64(i * 100),
                                          pods: Array(repeating: pod, count: Int.random(in: 1...3, using: &rng)),
                                          sameDomain: Int.random(in: 0..<4, using: &rng) == 0, minRuntime: Int64.random(in: 0...2, using: &rng) * 500,
                                          preempts: Int.random(in: 0..<4, using: &rng) != 0))
        }
        return World(snapshot: Snapshot(now: 0, cluster: c, pending: [], quotas: quotas), future: future)
    }

    /// Runs the world: arrivals every cycle, random completions, one scheduling cycle each step. Checks invariants after every cycle.
    static func run(_ seed: UInt64, check: Bool = true) -> [String] {
        var w = world(seed)
        var rng = SplitMix64(seed: seed ^ 0xF00D)
        var policy: any PlacementPolicy = PolicyName.allCases[Int(seed % UInt64(PolicyName.allCases.count))].make(typical: [])
        var log: [String] = []
        let capacity = w.snapshot.cluster
        for step in 0..<12 {
            w.snapshot.now = Int64(step) * 1000
            let arriving = w.future.prefix(4)
            w.snapshot.pending += arriving
            w.future.removeFirst(arriving.count)
            // Random completions.
            for r in w.snapshot.running where Int.random(in: 0..<3, using: &rng) == 0 {
                for (pod, p) in zip(r.workload.pods, r.placements) { w.snapshot.cluster.release(pod, from: p) }
                w.snapshot.running.removeAll { $0.workload.id == r.workload.id }
            }
            let before = w.snapshot
            var cycleRNG = SplitMix64(seed: seed &+ UInt64(step))
            let d = Scheduler().cycle(before, policy: &policy, rng: &cycleRNG)
            log.append("\(step): +\(d.admitted.map(\.id)) -\(d.preempted.map(\.id))")
            if check { verify(d, before: before) }
            w.snapshot = Build.apply(d, to: before)
            if check { verify(w.snapshot, capacity: capacity) }
        }
        return log
    }

    static func verify(_ d: Decision, before s: Snapshot) {
        let pending = Dictionary(uniqueKeysWithValues: s.pending.map { ($0.id, $0) })
        let running = Dictionary(uniqueKeysWithValues: s.running.map { ($0.workload.id, $0) })
        var book = QuotaBook(teams: s.quotas, usage: [:])
        for r in s.running { book.charge(r.workload.team, r.charged) }
        // Borrowing is judged when the engine decides, which can be after admissions earlier in the same cycle: at most
        // the usage at the start plus everything admitted in the cycle.
        for a in d.admitted { if let w = pending[a.id] { book.charge(w.team, a.charged) } }
        for a in d.admitted {
            let w = pending[a.id]
            #expect(w != nil, "admitted \(a.id) was not pending")
            #expect(a.placements.count == w?.pods.count, "gang \(a.id) admitted in part")
            if let w, w.sameDomain { #expect(Set(a.placements.map { s.cluster.domain[$0.node] }).count == 1, "gang \(a.id) split across domains") }
            #expect(Set(a.placements.map { s.cluster.cluster[$0.node] }).count == 1, "gang \(a.id) split across clusters")
        }
        for p in d.preempted {
            guard let v = running[p.id], let by = pending[p.by] else {
                Issue.record("preempted \(p.id) by \(p.by): unknown workloads")
                continue
            }
            #expect(by.preempts, "\(p.by) preempted \(p.id) although its priority is non-preempting")
            let borrowing = !book.borrowed(v.workload.team).isZero
            #expect(v.workload.priority < by.priority || (borrowing && v.workload.team != by.team && v.workload.priority <= by.priority),
                    "\(p.id) (priority \(v.workload.priority), team \(v.workload.team)) preempted by \(p.by) (priority \(by.priority)) without cause")
            #expect(s.now - v.started >= v.workload.minRuntime, "\(p.id) preempted before its guaranteed runtime")
        }
        #expect(Set(d.admitted.map(\.id)).isDisjoint(with: d.waiting.keys))
        #expect(Set(d.admitted.map(\.id)).isDisjoint(with: d.preempted.map(\.id)), "a workload both started and stopped in one cycle")
    }

    static func verify(_ s: Snapshot, capacity: ClusterState) {
        // No node over-committed, and the cluster agrees with what runs.
        var expected = capacity
        for r in s.running { for (pod, p) in zip(r.workload.pods, r.placements) { expected.assign(pod, to: p) } }
        #expect(expected.cpuFree == s.cluster.cpuFree && expected.gpuFree == s.cluster.gpuFree && expected.memoryFree == s.cluster.memoryFree)
        #expect(s.cluster.cpuFree.allSatisfy { $0 >= 0 } && s.cluster.memoryFree.allSatisfy { $0 >= 0 })
        #expect(s.cluster.gpuFree.allSatisfy { $0 >= 0 && $0 <= 1000 })
        // Quota: never beyond nominal plus borrowing limit; a cohort never holds more than its teams' nominal quota.
        var book = QuotaBook(teams: s.quotas, usage: [:])
        for r in s.running { book.charge(r.workload.team, r.charged) }
        for q in s.quotas {
            let used = book.used(q.name)
            if let b = q.borrowingLimit { #expect(used.fits(in: q.nominal + b), "team \(q.name) uses \(used) beyond nominal + borrowing limit") }
            if q.cohort == nil { #expect(used.fits(in: q.nominal), "team \(q.name) without cohort beyond nominal") }
        }
        for cohort in Set(s.quotas.compactMap(\.cohort)) {
            let members = s.quotas.filter { $0.cohort == cohort }
            let used = members.reduce(Resources.zero) { $0 + book.used($1.name) }
            let nominal = members.reduce(Resources.zero) { $0 + $1.nominal }
            #expect(used.fits(in: nominal), "cohort \(cohort) uses \(used) beyond its nominal \(nominal)")
        }
    }

    @Test func invariantsHoldOnRandomWorlds() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            _ = Self.run(seed)
        }
    }

    @Test func sameSeedSameDecisions() async {
        await propertyCheck(count: 50, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            #expect(Self.run(seed, check: false) == Self.run(seed, check: false))
        }
    }
}
