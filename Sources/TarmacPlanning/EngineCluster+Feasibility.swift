import TarmacEngine
import TarmacModel

extension EngineCluster {
    /// Why a workload can never start on these nodes, even with every node empty and its team's whole quota (and all
    /// its cohort could lend) free; nil when it could. `place` names the nodes for the user ("this machine", "the
    /// cluster's pools"). The answer speaks the contract's names and the user's units.
    public func neverStarts(_ plan: WorkloadPlan, pods: Int, team: String, place: String) -> String? {
        let shape = self.shape(of: plan)
        let allowed = pools(for: plan)
        let inPools = (0..<cluster.count).filter { n in allowed.map { $0.contains(cluster.pool[n]) } ?? true }
        var have: [String: Int] = [:]
        for n in inPools where cluster.gpuCount[n] > 0 { have[cluster.modelNames[Int(cluster.model[n])], default: 0] += Int(cluster.gpuCount[n]) }
        let haveText = have.isEmpty ? "none" : have.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        if let accelerator = plan.size.accelerator, shape.usesGPU, have[accelerator] == nil {
            return "cannot start here: \(place) has no \(accelerator) GPUs (it has: \(haveText))"
        }
        if allowed?.isEmpty == true || inPools.isEmpty {
            return "cannot start here: none of \(place)'s nodes is in a pool for size \(plan.size.name) (\(plan.poolNames.isEmpty ? "no pool of the contract can host it" : "pools: " + plan.poolNames.joined(separator: ", ")))"
        }
        // One pod on the largest node that has what it needs.
        let fitting = inPools.filter { n in
            !shape.usesGPU || (shape.models.allows(cluster.model[n]) && Int(cluster.gpuCount[n]) >= Int(shape.gpuCount))
        }
        if shape.usesGPU && fitting.isEmpty {
            let most = inPools.filter { shape.models.allows(cluster.model[$0]) }.map { Int(cluster.gpuCount[$0]) }.max() ?? 0
            return "cannot start here: each pod needs \(shape.gpuCount) \(plan.size.accelerator ?? "") GPUs on one node; the most \(place) has on one node is \(most)"
        }
        if !fitting.contains(where: { cluster.cpuCapacity[$0] >= shape.cpuMilli && cluster.memoryCapacity[$0] >= shape.memoryMiB }) {
            let big = fitting.max { (cluster.cpuCapacity[$0], cluster.memoryCapacity[$0]) < (cluster.cpuCapacity[$1], cluster.memoryCapacity[$1]) }!
            return "cannot start here: each pod needs \(amount(Int64(shape.cpuMilli), of: "cpu")) and \(amount(Int64(shape.memoryMiB), of: "memory")) of memory on one node; the largest node of \(place) has \(amount(Int64(cluster.cpuCapacity[big]), of: "cpu")) and \(amount(Int64(cluster.memoryCapacity[big]), of: "memory"))"
        }
        // The whole gang, on the empty nodes, against the quotas with nothing used: the engine's own answer.
        let w = PendingWorkload(id: "feasibility", team: team, pods: Array(repeating: shape, count: max(1, pods)), sameDomain: plan.size.topology == .domain,
                                pools: allowed)
        var policy: any PlacementPolicy = BestFitPolicy()
        var rng = SplitMix64(seed: 1)
        var config = SchedulerConfig()
        config.explain = true
        let d = Scheduler(config: config).cycle(Snapshot(now: 0, cluster: cluster, running: [], pending: [w], quotas: quotas), policy: &policy, rng: &rng)
        guard d.admitted.isEmpty, let reason = d.waiting[w.id] else { return nil }
        switch reason {
        case .quota:
            return "cannot start here: even with nothing else running, team \(team)'s quota cannot cover it; \(explain(reason, team: team))"
        case .shape(let s):
            return "cannot start here: the gang of \(pods) pod\(pods == 1 ? "" : "s") does not fit on \(place) even when it is empty; \(s)"
        default:
            return nil
        }
    }
}
