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
        for (i, pool) in p.pools.values.sorted(by: { $0.name < $1.name }).enumerated() { poolIndex[pool.name] = Int16(i) }
        var seen: [String: Int] = [:]
        for node in Self.declaredNodes(p, extraNodes: extraNodes) {
            let pool = node.pool ?? "", i = Int(poolIndex[pool] ?? 0), n = seen[pool, default: 0]
            seen[pool] = n + 1
            c.addNode(name: node.name, cpuMilli: Int32(clamping: node.cpuMilli), memoryMiB: Int32(clamping: node.memoryMiB),
                      gpus: min(node.gpus, ClusterState.maxGPUsPerNode), model: node.accelerator, pool: Int16(i), domain: Int32(i * 1000 + n / 4))
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

    /// Each pool's declared nodes (`nodes`, plus `extraNodes`), pools in name order: `POOL-N`, four to a topology domain.
    public static func declaredNodes(_ p: Platform, extraNodes: [String: Int] = [:]) -> [NodeInventory] {
        p.pools.values.sorted { $0.name < $1.name }.flatMap { pool in
            (0..<(pool.nodes + (extraNodes[pool.name] ?? 0))).map { n in
                NodeInventory(name: "\(pool.name)-\(n)", cpuMilli: Int(clamping: pool.cpuPerNode.millis), memoryMiB: Int(clamping: pool.memoryPerNode.bytes >> 20),
                              gpus: pool.gpusPerNode, accelerator: pool.accelerator, pool: pool.name, domain: "\(pool.name)-\(n / 4)")
            }
        }
    }

    /// The pod shape of a size.
    public func shape(_ s: Size) -> PodShape {
        var c = cluster
        return PodShapes.shape(of: s, models: &c)
    }
}
