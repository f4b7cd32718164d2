import Foundation
import TarmacContract
import TarmacEngine
import TarmacModel
import TarmacPlanning

extension ContractInventory {
    /// `count` workloads of random sizes and teams arriving over `span` ms (Poisson-like, seeded), running
    /// `meanDuration` ms on average (exponential), training gangs of 1-4 workers with checkpoints every 10% of their run;
    /// a share `failureRate` of them fails after a random part of its run.
    public func synthetic(count: Int, span: Int64, meanDuration: Int64, seed: UInt64, failureRate: Double = 0) -> [SimulatedWorkload] {
        var rng = SplitMix64(seed: seed)
        let teams = platform.teams.values.sorted { $0.name < $1.name }
        var out: [SimulatedWorkload] = []
        for i in 0..<count {
            let cls = [WorkloadClass.training, .batch, .inference].randomElement(using: &rng)!
            guard let team = teams.randomElement(using: &rng) else { continue }
            // Only sizes the team can ever get: its own quota for the accelerator, or its cohort's.
            let reachable = (platform.sizes[cls]?.values.sorted(by: { $0.name < $1.name }) ?? []).filter { size in
                guard let a = size.accelerator else { return true }
                return platform.teams.values.contains { ($0.name == team.name || ($0.cohort != nil && $0.cohort == team.cohort)) && ($0.quota.gpus[a]?.thousandths ?? 0) > 0 }
            }
            guard let size = reachable.randomElement(using: &rng) else { continue }
            let pools = Set(platform.pools(for: size).filter { $0.canHost(size) }.compactMap { poolIndex[$0.name] })
            guard !pools.isEmpty else { continue }
            let workers = cls == .training ? Int.random(in: 1...4, using: &rng) : 1
            let priorityName = platform.defaults.priority[cls]
            let priority = platform.priorities[priorityName ?? ""] ?? 0
            let arrival = Int64.random(in: 0...span, using: &rng)
            let duration = max(1000, Int64(-Double(meanDuration) * log(Double.random(in: 0.0001...1, using: &rng))))
            let w = PendingWorkload(id: "\(cls.rawValue)-\(i)", team: team.name, user: team.members.randomElement(using: &rng) ?? team.name,
                                    priority: priority, submitted: arrival, pods: Array(repeating: shape(size), count: workers),
                                    sameDomain: size.topology == .domain, pools: pools, minRuntime: cls == .training ? 60_000 : 0,
                                    preempts: platform.preemption.preempts(priority: priorityName))
            let fails = Double.random(in: 0..<1, using: &rng) < failureRate ? Int64(Double(duration) * Double.random(in: 0.05...0.95, using: &rng)) : nil
            out.append(SimulatedWorkload(workload: w, arrival: arrival, duration: duration, workloadClass: cls.rawValue,
                                         checkpointEvery: cls == .training ? max(1000, duration / 10) : nil, failsAfter: fails))
        }
        return out
    }
}

