import TarmacCore
import TarmacAPI
import TarmacEngine
import TarmacPlanning

extension ControlPlane {
    /// Each team's quota as it stands, for the teams the caller may read: nominal, used, borrowed and lent per
    /// resource (only resources the team has quota for or uses). What `GET /v1/queue` and the portal's Queue page show.
    public func quotaStatus(by principal: Principal) -> [TeamQuotaView] {
        if views.stale { rebuildEngineViews() }
        var used: [String: Resources] = [:]
        for r in views.running.values { used[r.workload.team] = (used[r.workload.team] ?? .zero) + r.charged }
        let quotas = quotasWithHolds
        let book = QuotaBook(teams: quotas, usage: used)
        // Lent: per cohort, what its teams borrow in all, shared over the teams with idle quota in proportion to it.
        var borrowedByCohort: [String: Resources] = [:], idleByCohort: [String: Resources] = [:]
        for q in quotas {
            guard let c = q.cohort else { continue }
            borrowedByCohort[c] = (borrowedByCohort[c] ?? .zero) + book.borrowed(q.name)
            idleByCohort[c] = (idleByCohort[c] ?? .zero) + (q.nominal - book.used(q.name)).clampedAtZero
        }
        var resources: [(name: String, get: (Resources) -> Int64)] = [("cpu", { $0.cpuMilli }), ("memory", { $0.memoryMiB })]
        for (i, name) in engine.cluster.modelNames.enumerated() where i < Resources.maxModels { resources.append(("\(name) GPUs", { $0.gpu[i] })) }
        func unit(_ name: String, _ v: Int64) -> Double {
            switch name {
            case "memory": return Double(v) / 1024
            default: return Double(v) / 1000
            }
        }
        var out: [TeamQuotaView] = []
        for q in quotas.sorted(by: { $0.name < $1.name }) where principal.canRead(team: q.name) {
            let u = book.used(q.name), b = book.borrowed(q.name), idle = (q.nominal - u).clampedAtZero
            var lines: [TeamQuotaView.Line] = []
            for r in resources {
                let nominal = r.get(q.nominal), usedV = r.get(u)
                guard nominal > 0 || usedV > 0 else { continue }
                var lent: Int64 = 0
                if let c = q.cohort, let cb = borrowedByCohort[c], let ci = idleByCohort[c], r.get(ci) > 0 {
                    lent = min(r.get(idle), Int64((Double(r.get(cb)) * Double(r.get(idle)) / Double(r.get(ci))).rounded()))
                }
                lines.append(.init(resource: r.name == "memory" ? "memory GiB" : r.name, nominal: unit(r.name, nominal), used: unit(r.name, usedV),
                                   borrowed: unit(r.name, r.get(b)), lent: unit(r.name, lent)))
            }
            out.append(TeamQuotaView(team: q.name, cohort: q.cohort, lines: lines, hold: q.hold.map { engine.explain(.quota($0), team: q.name) }))
        }
        return out
    }
}
