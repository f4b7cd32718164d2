import Foundation
import TarmacContract
import TarmacEngine
import TarmacModel

/// A cluster and quotas built from a platform contract (pools x nodes), and synthetic workloads drawn from its sizes:
/// capacity planning ("what if we add 4 H100 nodes?") with the real engine.
public struct ContractInventory: Sendable {
    public var cluster: ClusterState
    public var quotas: [TeamQuota]
    public var poolIndex: [String: Int16]
    public let platform: Platform

    /// `extraNodes`: pool name to nodes added on top of the contract's.
    public init(platform p: Platform, extraNodes: [String: Int] = [:]) {
        platform = p
        var c = ClusterState()
        var poolIndex: [String: Int16] = [:]
        for (i, pool) in p.pools.values.sorted(by: { $0.name < $1.name }).enumerated() {
            poolIndex[pool.name] = Int16(i)
            let model = pool.accelerator
            for n in 0..<(pool.nodes + (extraNodes[pool.name] ?? 0)) {
                c.addNode(name: "\(pool.name)-\(n)", cpuMilli: Int32(clamping: pool.cpuPerNode.millis), memoryMiB: Int32(clamping: pool.memoryPerNode.bytes >> 20),
                          gpus: min(pool.gpusPerNode, ClusterState.maxGPUsPerNode), model: model, pool: Int16(i), domain: Int32(i * 1000 + n / 4))
            }
        }
        for a in p.accelerators.keys.sorted() { _ = c.modelID(a) }
        cluster = c
        self.poolIndex = poolIndex
        quotas = p.teams.values.sorted { $0.name < $1.name }.map { t in
            func resources(_ a: ResourceAmounts?) -> Resources? {
                guard let a else { return nil }
                var r = Resources(cpuMilli: a.cpu?.millis ?? (a.gpus.isEmpty && a.memory == nil ? 0 : Int64.max / 4), memoryMiB: (a.memory?.bytes).map { $0 >> 20 } ?? Int64.max / 4)
                for (name, g) in a.gpus { r.addGPU(Int(c.modelID(name)), Int64(g.thousandths)) }
                return r
            }
            var nominal = resources(t.quota) ?? Resources()
            if t.quota.cpu == nil { nominal.cpuMilli = Int64.max / 4 }
            return TeamQuota(name: t.name, nominal: nominal, cohort: t.cohort, borrowingLimit: resources(t.borrowingLimit), lendingLimit: resources(t.lendingLimit), weight: t.weight)
        }
    }

    /// The pod shape of a size.
    public func shape(_ s: Size) -> PodShape {
        var c = cluster
        let model: ModelSet = s.accelerator.map { .only([c.modelID($0)]) } ?? .any
        let gpus = s.gpus
        return PodShape(cpuMilli: Int32(clamping: s.cpu.millis), memoryMiB: Int32(clamping: s.memory.bytes >> 20),
                        gpuCount: gpus.isFractional ? 1 : gpus.wholeGPUs, gpuMilli: gpus.isFractional ? gpus.thousandths : 1000, models: model)
    }

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
            let priority = platform.priorities[platform.defaults.priority[cls] ?? ""] ?? 0
            let arrival = Int64.random(in: 0...span, using: &rng)
            let duration = max(1000, Int64(-Double(meanDuration) * log(Double.random(in: 0.0001...1, using: &rng))))
            let w = PendingWorkload(id: "\(cls.rawValue)-\(i)", team: team.name, user: team.members.randomElement(using: &rng) ?? team.name,
                                    priority: priority, submitted: arrival, pods: Array(repeating: shape(size), count: workers),
                                    sameDomain: size.topology == .domain, pools: pools, minRuntime: cls == .training ? 60_000 : 0)
            let fails = Double.random(in: 0..<1, using: &rng) < failureRate ? Int64(Double(duration) * Double.random(in: 0.05...0.95, using: &rng)) : nil
            out.append(SimulatedWorkload(workload: w, arrival: arrival, duration: duration, workloadClass: cls.rawValue,
                                         checkpointEvery: cls == .training ? max(1000, duration / 10) : nil, failsAfter: fails))
        }
        return out
    }
}

