import TarmacContract
import TarmacEngine
import TarmacModel

/// The engine's view of a contract and the nodes a backend has: the cluster (pools by the contract's pool names,
/// topology domains by label value), the teams' quotas and the policy's typical pods. GPU models get the same indices
/// in the cluster and in the quotas: the contract's accelerators first, in name order.
public struct EngineCluster: Sendable {
    public var cluster: ClusterState
    public var quotas: [TeamQuota]
    /// Engine pool index by the contract's pool name.
    public var poolIndex: [String: Int16]
    /// Engine node index by node name.
    public var nodeIndex: [String: Int]
    public var typical: [TypicalPod]
    /// Whether any node belongs to a pool (the local machine does not: then a workload may use any node).
    public var hasPools: Bool

    public init(contract: Contract, nodes: [NodeInventory]) {
        var p = contract.platform
        p.pools = [:]
        let bare = ContractInventory(platform: p)
        var c = bare.cluster
        quotas = bare.quotas
        var poolIndex: [String: Int16] = [:]
        for (i, name) in contract.platform.pools.keys.sorted().enumerated() { poolIndex[name] = Int16(i) }
        var domains: [String: Int32] = [:]
        var nodeIndex: [String: Int] = [:]
        for n in nodes {
            let pool = n.pool.flatMap { poolIndex[$0] } ?? -1
            var domain: Int32 = 0
            if let d = n.domain {
                let key = (n.pool ?? "") + "/" + d
                if domains[key] == nil { domains[key] = Int32(domains.count + 1) }
                domain = domains[key]!
            }
            nodeIndex[n.name] = c.addNode(name: n.name, cpuMilli: Int32(clamping: n.cpuMilli), memoryMiB: Int32(clamping: n.memoryMiB),
                                          gpus: min(n.gpus, ClusterState.maxGPUsPerNode), model: n.accelerator, pool: pool, domain: domain)
        }
        self.poolIndex = poolIndex
        self.nodeIndex = nodeIndex
        typical = PodShapes.typical(contract.platform, models: &c)
        hasPools = nodes.contains { $0.pool != nil }
        cluster = c
    }

    /// Pools a plan may use, as engine indices (nil: any node, when no node belongs to a pool).
    public func pools(for plan: WorkloadPlan) -> Set<Int16>? {
        guard hasPools else { return nil }
        return Set(plan.poolNames.compactMap { poolIndex[$0] })
    }

    /// The engine's pod shape of a plan in this cluster.
    public func shape(of plan: WorkloadPlan) -> PodShape {
        var c = cluster
        return plan.shape(models: &c)
    }

    /// Resources of a charge by GPU model name, in this cluster's model indices.
    public func resources(cpuMilli: Int64, memoryMiB: Int64, gpuMilli: [String: Int64]) -> Resources {
        var r = Resources(cpuMilli: cpuMilli, memoryMiB: memoryMiB)
        for (name, milli) in gpuMilli { if let i = cluster.modelNames.firstIndex(of: name) { r.addGPU(i, milli) } }
        return r
    }

    /// GPU thousandths by model name of engine resources.
    public func gpuByName(_ r: Resources) -> [String: Int64] {
        var g: [String: Int64] = [:]
        for i in 0..<min(Resources.maxModels, cluster.modelNames.count) where r.gpu(i) != 0 { g[cluster.modelNames[i]] = r.gpu(i) }
        return g
    }
}
