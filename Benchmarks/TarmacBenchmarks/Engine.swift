import Foundation
import TarmacEngine
import TarmacSimulator

/// Decision throughput: a synthetic cluster of 10,000 nodes x 8 GPUs and 100,000 queued workloads of mixed shapes,
/// teams and priorities, decided in scheduling cycles of `--batch` new arrivals. Admissions per second, decision latency, memory.
func throughputBenchmark(_ args: [String]) {
    let nodeCount = Int(option("--nodes", args) ?? "") ?? 10_000
    let workloadCount = Int(option("--workloads", args) ?? "") ?? 100_000
    let batch = Int(option("--batch", args) ?? "") ?? 1000
    let policies = option("--policies", args).map { $0.split(separator: ",").compactMap { PolicyName.named(String($0)) } } ?? [.bestFit, .tarmac]
    var rng = SplitMix64(seed: 7)
    var cluster = ClusterState()
    for i in 0..<nodeCount {
        cluster.addNode(name: "node-\(i)", cpuMilli: 128_000, memoryMiB: 1024 * 1024, gpus: 8, model: i % 2 == 0 ? "h100" : "a100", domain: Int32(i / 32))
    }
    let teams = (0..<20).map { "team-\($0)" }
    let quotas = teams.enumerated().map { i, t -> TeamQuota in
        var nominal = Resources(cpuMilli: Int64(nodeCount) * 128_000 / 20, memoryMiB: Int64(nodeCount) * 1024 * 1024 / 20)
        nominal.addGPU(1, Int64(nodeCount) * 8000 / 40)
        nominal.addGPU(2, Int64(nodeCount) * 8000 / 40)
        return TeamQuota(name: t, nominal: nominal, cohort: "c\(i % 4)", weight: Double(1 + i % 3))
    }
    var pending: [PendingWorkload] = []
    for i in 0..<workloadCount {
        let model: ModelSet = .only([UInt8(1 + i % 2)])
        let kind = Int.random(in: 0..<10, using: &rng)
        let pod: PodShape, workers: Int
        switch kind {
        case 0...2: (pod, workers) = (PodShape(cpuMilli: 4000, memoryMiB: 16_384, gpuCount: 1, gpuMilli: [250, 500].randomElement(using: &rng)!, models: model), 1)
        case 3...5: (pod, workers) = (PodShape(cpuMilli: 8000, memoryMiB: 32_768, gpuCount: 1, gpuMilli: 1000, models: model), 1)
        case 6, 7: (pod, workers) = (PodShape(cpuMilli: 16_000, memoryMiB: 65_536, gpuCount: [2, 4].randomElement(using: &rng)!, gpuMilli: 1000, models: model), 1)
        case 8: (pod, workers) = (PodShape(cpuMilli: 96_000, memoryMiB: 900_000, gpuCount: 8, gpuMilli: 1000, models: model), Int.random(in: 1...4, using: &rng))
        default: (pod, workers) = (PodShape(cpuMilli: 2000, memoryMiB: 4096, gpuCount: 0, gpuMilli: 0), 1)
        }
        pending.append(PendingWorkload(id: "w\(i)", team: teams.randomElement(using: &rng)!, user: "u\(Int.random(in: 0..<50, using: &rng))",
                                       priority: [0, 100, 1000].randomElement(using: &rng)!, submitted: Int64(i), pods: Array(repeating: pod, count: workers),
                                       sameDomain: workers > 1))
    }
    print("decision throughput: \(nodeCount) nodes x 8 GPUs, \(workloadCount) workloads arriving in batches of \(batch), one cycle per batch")
    print("(a) filling the empty cluster: kept scheduler state; a workload that does not fit is parked until something frees room")
    print("policy        admitted  waiting  time (s)  admissions/s  decisions/s  p50 (us)  p99 (us)  node groups  peak memory")
    var full: [(PolicyName, SchedulerState, any PlacementPolicy)] = []
    for name in policies {
        var policy = name.make(typical: TypicalPod.from(pending.prefix(5000).flatMap(\.pods)))
        var state = SchedulerState(now: 0, cluster: cluster, quotas: quotas)
        var latencies: [Int64] = []
        var admitted = 0
        var cycleRNG = SplitMix64(seed: 1)
        let scheduler = Scheduler(config: SchedulerConfig(reservationAfter: .max, preemption: false, explain: false, stopwatch: monotonic))
        let start = now()
        var i = 0
        while i < pending.count {
            for w in pending[i..<min(pending.count, i + batch)] { state.submit(w) }
            i += batch
            state.now = Int64(i)
            let d = scheduler.cycle(&state, policy: &policy, rng: &cycleRNG)
            latencies += d.decisionNanoseconds
            admitted += d.admitted.count
        }
        let elapsed = now() - start
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : Double(latencies[Int(Double(latencies.count - 1) * p)]) / 1000 }
        print(String(format: "%-12@  %8d  %7d  %8.2f  %12.0f  %11.0f  %8.1f  %8.1f  %11d  %7.0f MiB", name.rawValue as NSString, admitted, state.pending.count, elapsed,
                     Double(admitted) / elapsed, Double(latencies.count) / elapsed, pct(0.5), pct(0.99), state.cluster.classes.liveCount, peakRSSMiB()))
        full.append((name, state, policy))
    }
    print("")
    print("(b) the full cluster, nothing changed: one cycle over the waiting workloads (100 cycles; and, for comparison, the")
    print("    periodic recheck that examines every parked workload, and a cycle over a snapshot, which examines them all)")
    print("policy        waiting  idle cycle p50 (ms)  p99 (ms)  recheck (ms)  snapshot cycle (ms)")
    for (name, kept, p) in full {
        var state = kept
        var policy = p
        var rng = SplitMix64(seed: 2)
        let scheduler = Scheduler(config: SchedulerConfig(reservationAfter: .max, preemption: false, explain: false))
        var times: [Double] = []
        for k in 1...100 {
            state.now += 1
            let t = now()
            let d = scheduler.cycle(&state, policy: &policy, rng: &rng)
            times.append(now() - t)
            precondition(d.admitted.isEmpty, "nothing changed, yet \(d.admitted.count) admitted in idle cycle \(k)")
        }
        times.sort()
        let recheckScheduler = Scheduler(config: SchedulerConfig(reservationAfter: .max, preemption: false, explain: false, recheckAfter: 0))
        var recheckState = state
        let t0 = now()
        _ = recheckScheduler.cycle(&recheckState, policy: &policy, rng: &rng)
        let recheck = now() - t0
        let snapshot = Snapshot(now: state.now, cluster: state.cluster, running: Array(state.running.values), pending: Array(state.pending.values),
                                quotas: quotas)
        let t1 = now()
        _ = scheduler.cycle(snapshot, policy: &policy, rng: &rng)
        let snap = now() - t1
        print(String(format: "%-12@  %7d  %19.3f  %8.3f  %12.1f  %19.1f", name.rawValue as NSString, state.pending.count, times[49] * 1000, times[98] * 1000,
                     recheck * 1000, snap * 1000))
    }
    print("(a decision is one workload examined; kube-scheduler's CI asks 680-810 pods/s on 5,000 nodes)")
}

/// Kueue's scheduler performance scenario in virtual time, side by side with Kueue's published figures.
func kueueBenchmark(_ args: [String]) {
    let nodes = Int(option("--nodes", args) ?? "") ?? 6
    let t = now()
    let preemption = args.contains("--preemption")
    let sim = KueueScenario.simulation(nodes: nodes, preemption: preemption)
    let report = sim.run()
    let elapsed = now() - t
    let stats = Dictionary(uniqueKeysWithValues: report.waitStats { $0.workloadClass }.map { ($0.key, $0) })
    print("Kueue's scheduler scenario (5 cohorts x 6 queues, 15,000 workloads), virtual time; Tarmac on \(nodes) nodes of \(600 / nodes) CPU;")
    print(preemption ? "priorities preempt lower ones (--preemption)" : "non-preempting priorities (--preemption: they preempt lower ones, as Kueue's configuration lets them)")
    print("                         Tarmac      Kueue (published)")
    print(String(format: "CPU usage %%            %8.1f      55.9", report.cpuAllocation))
    for (c, kueue) in [("large", 16.5), ("medium", 76.8), ("small", 215.5)] {
        print(String(format: "avg admission %-7@ %7.1f s    %6.1f s", c as NSString, (stats[c]?.mean ?? 0) / 1000, kueue))
    }
    print(String(format: "makespan %.1f s (virtual), %d cycles, %d never admitted; simulated in %.1f s wall, peak memory %.0f MiB",
                 Double(report.makespan) / 1000, report.cycles, report.neverAdmitted, elapsed, peakRSSMiB()))
}

/// The benchmarks' stopwatch: monotonic time since the process started.
let benchmarkOrigin = ContinuousClock.now
let monotonic: @Sendable () -> Duration = { benchmarkOrigin.duration(to: ContinuousClock.now) }
