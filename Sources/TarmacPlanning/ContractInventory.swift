import TarmacContract
import TarmacEngine
import TarmacModel

/// A cluster and quotas built from a platform contract alone (each pool's declared nodes): capacity planning ("what if we
/// add 4 H100 nodes?") with the real engine, and the quotas of the control plane (no pool nodes: the indices of GPU models
/// are the contract's accelerators, in name order, as in every `EngineCluster`).
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
        return PodShapes.shape(of: s, models: &c)
    }
}
