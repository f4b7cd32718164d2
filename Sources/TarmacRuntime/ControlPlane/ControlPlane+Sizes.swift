import TarmacCore
import TarmacAPI
import TarmacMetering
import TarmacModel
import TarmacKinds

extension ControlPlane {
    /// The size catalogue as a team and an environment resolve it: per class, smallest first, with the pools that can
    /// host each size, what one pod costs an hour, and (for a team) whether one pod could start here or why not. What
    /// `GET /v1/sizes`, `tarmac sizes` and the portal's Sizes page show.
    public func sizes(team: String?, env: String?) -> [SizeView] {
        let p = contract.resolve(env: env, team: team).platform
        let rates = UsageReport.Rates(platform: p)
        var items: [SizeView] = []
        for (cls, sizes) in p.sizes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            // Smallest first: by GPUs, then CPUs, then memory.
            for s in sizes.values.sorted(by: { ($0.gpus.thousandths, $0.cpu.millis, $0.memory.bytes, $0.name) < ($1.gpus.thousandths, $1.cpu.millis, $1.memory.bytes, $1.name) }) {
                // What a submit would be told: whether one pod of it can ever start here, within the team's quota.
                var why: String??
                if let team { why = .some(whyNot(size: s.name, of: cls, team: team, env: env ?? "")) }
                let gpuHours = Double(s.gpus.thousandths) / 1000
                let cost = gpuHours * (s.accelerator.flatMap { rates.acceleratorHour[$0] } ?? 0) + Double(s.cpu.millis) / 1000 * rates.cpuCoreHour
                    + Double(s.memory.bytes) / Double(1 << 30) * rates.memoryGiBHour
                items.append(SizeView(workloadClass: cls.rawValue, name: s.name, cpu: s.cpu.description, memory: s.memory.description,
                                      gpus: s.gpus.description, accelerator: s.accelerator, description: s.description,
                                      startsHere: why.map { $0 == nil }, why: why ?? nil,
                                      pools: p.pools(for: s).filter { $0.canHost(s) }.map(\.name), hourlyCost: cost))
            }
        }
        return items
    }

    /// What a workload's GPU- and CPU-seconds so far cost at the contract's rates (its size's accelerator's hourly
    /// cost, `costs.cpuCoreHour`).
    public func costSoFar(_ e: WorkloadEntry) -> Double {
        let p = contract.resolve(env: e.env, team: e.team).platform
        let rates = UsageReport.Rates(platform: p)
        let accelerator = tracked[e.id]?.plan?.size.accelerator ?? Kinds.plan(source: e.source, contract: contract)?.size.accelerator
        return e.gpuSeconds / 3600 * (accelerator.flatMap { rates.acceleratorHour[$0] } ?? 0) + e.cpuSeconds / 3600 * rates.cpuCoreHour
    }
}
