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

    /// Engine cluster index by cluster name (empty when the nodes belong to no named cluster).
    public var clusterIndex: [String: Int16]

    public init(contract: Contract, nodes: [NodeInventory]) {
        var p = contract.platform
        p.pools = [:]
        let bare = ContractInventory(platform: p)
        var c = bare.cluster
        quotas = bare.quotas
        // Clusters in contract order, then any other a node names; with clusters, an engine pool is a pool of one
        // cluster (`CLUSTER/POOL`), so a workload's pools say which clusters it may use.
        var clusterNames = contract.platform.clusters.map(\.name)
        for n in nodes { if let k = n.cluster, !clusterNames.contains(k) { clusterNames.append(k) } }
        if !nodes.contains(where: { $0.cluster != nil }) { clusterNames = [] }
        var clusterIndex: [String: Int16] = [:]
        for (i, k) in clusterNames.enumerated() { clusterIndex[k] = Int16(i) }
        let poolNames = contract.platform.pools.keys.sorted()
        var poolIndex: [String: Int16] = [:]
        if clusterNames.isEmpty {
            for (i, name) in poolNames.enumerated() { poolIndex[name] = Int16(i) }
        } else {
            for (k, cluster) in clusterNames.enumerated() {
                for (i, name) in poolNames.enumerated() { poolIndex[cluster + "/" + name] = Int16(k * poolNames.count + i) }
            }
        }
        var domains: [String: Int32] = [:]
        var nodeIndex: [String: Int] = [:]
        for n in nodes {
            let poolKey = n.pool.map { name in n.cluster.map { $0 + "/" + name } ?? name }
            let pool = poolKey.flatMap { poolIndex[$0] } ?? -1
            var domain: Int32 = 0
            if let d = n.domain {
                let key = (poolKey ?? "") + "/" + d
                if domains[key] == nil { domains[key] = Int32(domains.count + 1) }
                domain = domains[key]!
            }
            nodeIndex[n.name] = c.addNode(name: n.name, cpuMilli: Int32(clamping: n.cpuMilli), memoryMiB: Int32(clamping: n.memoryMiB),
                                          gpus: min(n.gpus, ClusterState.maxGPUsPerNode), model: n.accelerator, pool: pool, domain: domain,
                                          cluster: n.cluster.flatMap { clusterIndex[$0] } ?? 0)
        }
        self.poolIndex = poolIndex
        self.nodeIndex = nodeIndex
        self.clusterIndex = clusterIndex
        typical = PodShapes.typical(contract.platform, models: &c)
        hasPools = nodes.contains { $0.pool != nil }
        cluster = c
    }

    /// Pools a plan may use, as engine indices (nil: any node, when no node belongs to a pool). With clusters: its
    /// pools in the clusters it may run on (`WorkloadPlan.clusters`; nil there: every cluster).
    public func pools(for plan: WorkloadPlan) -> Set<Int16>? {
        guard hasPools else { return nil }
        if clusterIndex.isEmpty { return Set(plan.poolNames.compactMap { poolIndex[$0] }) }
        let clusters = plan.clusters ?? clusterIndex.keys.sorted()
        return Set(clusters.flatMap { k in plan.poolNames.compactMap { poolIndex[k + "/" + $0] } })
    }

    /// The cluster name of an engine node.
    public func clusterName(ofNode n: Int) -> String? {
        guard !clusterIndex.isEmpty else { return nil }
        let k = cluster.cluster[n]
        return clusterIndex.first { $0.value == k }?.key
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
