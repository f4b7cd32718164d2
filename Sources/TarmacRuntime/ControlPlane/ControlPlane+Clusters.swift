import Foundation
import TarmacAPI
import TarmacCore

extension ControlPlane {
    /// The clusters of a platform that has several, as the backend reports them, with their nodes and the GPUs Tarmac's
    /// workloads hold there per pool. nil when the backend drives no clusters of its own (one cluster, or this machine).
    public func clusters() async -> [ClusterView]? {
        guard let source = backend as? any ReportsClusters else { return nil }
        let reports = await source.clusterReports()
        var used: [String: [String: Double]] = [:]
        var workloads: [String: Int] = [:]
        let poolOf = Dictionary(nodes.map { ($0.name, $0.pool ?? "-") }, uniquingKeysWith: { a, _ in a })
        for id in tracked.holding {
            guard let e = tracked[id]?.entry, let first = e.placements.first, let cluster = FleetNodeName.split(first.node)?.cluster else { continue }
            workloads[cluster, default: 0] += 1
            for p in e.placements {
                used[cluster, default: [:]][poolOf[p.node] ?? "-", default: 0] += Double(p.gpus.count * p.gpuMilli) / 1000
            }
        }
        return reports.map { r in
            let mine = nodes.filter { $0.cluster == r.name }
            var pools: [String: ClusterView.PoolUse] = [:]
            for n in mine {
                let pool = n.pool ?? "-"
                pools[pool, default: ClusterView.PoolUse(pool: pool, nodes: 0, gpus: 0, gpusUsed: 0)].nodes += 1
                pools[pool]!.gpus += n.gpus
            }
            for (pool, g) in used[r.name] ?? [:] { pools[pool, default: ClusterView.PoolUse(pool: pool, nodes: 0, gpus: 0, gpusUsed: 0)].gpusUsed += g }
            return ClusterView(name: r.name, region: r.region, reachable: r.reachable, lost: r.lost, lastContact: r.lastContact, unreachableSince: r.unreachableSince,
                               nodes: mine.count, pools: pools.values.sorted { $0.pool < $1.pool }, workloads: workloads[r.name] ?? 0, dispatched: r.dispatched,
                               rejected: r.rejected, failovers: r.failovers, drift: r.drift, driftAt: r.driftAt, platformErrors: r.platformErrors, lastSync: r.lastSync)
        }
    }
}
