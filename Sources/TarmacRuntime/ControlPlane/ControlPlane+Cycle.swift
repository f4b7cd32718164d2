import TarmacCore
import Foundation
import TarmacEngine
import TarmacPlanning

/// One scheduling cycle, in Kueue's numbered steps: the engine decides on an immutable snapshot, off the actor; the
/// decisions come back to each workload's state machine as events.
extension ControlPlane {
    func cycle() async throws {
        loop.cycles += 1
        let now = clock.now
        let nowMs = Self.millis(now)
        // 1. Snapshot: the cluster with every admitted attempt assigned where it runs.
        if views.stale { rebuildEngineViews() }
        var cluster = engine.cluster
        let running = Array(views.running.values)
        for r in running { for (pod, pl) in zip(r.workload.pods, r.placements) { cluster.assign(pod, to: pl) } }
        // 2. Pending: queued, out of backoff, accepted by the backend. A workload that did not fit when last looked at can
        // fit now only if room was given back in a pool it may use, or quota in its cohort (or its team): only those, the
        // ones new to the queue (or out of backoff since), and the holder of the reservation, are looked at (Kueue's
        // inadmissible workloads). A full cycle runs when the nodes or the contract changed, and every `fullCycle`
        // (10 s), or every twenty times the last one's cost if that is longer (a queue of 100,000: about every 30 s).
        let periodic = max(config.fullCycle, loop.lastFullCycleCost * 20)
        let full = loop.capacityFreed || now.timeIntervalSince(loop.lastFullCycle) >= periodic.seconds
        let started = clock.elapsed
        defer { if full { loop.lastFullCycleCost = clock.since(started) } }
        let since = loop.lastCycleRun
        loop.lastCycleRun = now
        let queued: [String]
        let pools = loop.freedPools, groups = loop.freedGroups
        loop.freedPools = []
        loop.freedGroups = []
        if full {
            loop.capacityFreed = false
            loop.lastFullCycle = now
            queued = Array(tracked.queued)
        } else {
            // The holder of the last cycle's reservation is always looked at, so that its reservation keeps new work out.
            var look = loop.fresh.intersection(tracked.queued)
            if let r = loop.reservationHolder, tracked.queued.contains(r) { look.insert(r) }
            for id in tracked.backingOff where (tracked[id]?.entry.notBefore).map({ $0 > since && $0 <= now }) == true { look.insert(id) }
            if !pools.isEmpty || !groups.isEmpty {
                let teams = Set(contract.platform.teams.keys.filter { groups.contains(quotaGroup(of: $0)) })
                for id in tracked.queued {
                    guard let w = views.pending[id]?.workload else { continue }
                    if teams.contains(w.team) || (w.pools.map { !$0.isDisjoint(with: pools) } ?? true) { look.insert(id) }
                }
            }
            queued = Array(look)
        }
        loop.lastExamined = (queued.count, full)
        var pending: [PendingWorkload] = []
        for id in queued {
            guard let p = views.pending[id], (p.notBefore ?? .distantPast) <= now else { continue }
            pending.append(p.workload)
        }
        // Replicas autoscalers ask for beyond the admitted ones wait for the engine like any pod (quota and placement).
        pending += try await replicaDemands(now: now)
        for p in pending { loop.fresh.remove(p.id) }
        guard !pending.isEmpty else {
            if full {
                for id in queued { views.waitReasons[id] = nil }
                loop.reservationHolder = nil
            }
            return
        }
        // 3. Decide: a pure function of the snapshot, off the actor, so submissions and reads go on meanwhile.
        let (decision, policy, rng) = await Self.decide(scheduler, Snapshot(now: nowMs, cluster: cluster, running: running, pending: pending,
                                                                            quotas: quotasWithHolds),
                                                        policy: self.policy, rng: self.rng)
        self.policy = policy
        self.rng = rng
        loop.reservationHolder = decision.reservedFor
        // 4. Remember why each waits.
        for id in queued {
            views.waitReasons[id] = decision.waiting[id]
        }
        // 5. Preempt, then admit (each through its workload's state machine).
        for p in decision.preempted { try await apply(p.id, .preempted(by: p.by, reason: p.reason)) }
        var admissions: [(String, WorkloadEvent)] = []
        for a in decision.admitted {
            if Self.isReplicaRequest(a.id) {
                try await admitReplica(a, now: now)
                continue
            }
            guard let t = tracked[a.id], let plan = t.plan else { continue }
            let placements = podPlacements(a.placements, plan: plan)
            let charge = Charge(cpuMilli: a.charged.cpuMilli, memoryMiB: a.charged.memoryMiB, gpuMilli: engine.gpuByName(a.charged))
            admissions.append((a.id, .admitted(placements: placements, charge: charge)))
        }
        // Side by side: their store writes share commits.
        await applyAll(admissions, what: "an admission")
        // One may have been cancelled while the cycle was deciding: then it was not admitted, and the next cycle looks again.
        for (id, _) in admissions where tracked[id]?.state == .queued { loop.dirty = true }
    }

    @concurrent
    nonisolated static func decide(_ scheduler: Scheduler, _ snapshot: Snapshot, policy: any PlacementPolicy, rng: SplitMix64) async
        -> (Decision, any PlacementPolicy, SplitMix64) {
        var policy = policy, rng = rng
        let decision = scheduler.cycle(snapshot, policy: &policy, rng: &rng)
        return (decision, policy, rng)
    }

    /// Keeps the engine's views of one workload current (see `enginePending`, `engineRunning`).
    func noteEngineView(_ t: TrackedWorkload) {
        guard !views.stale else { return }
        let e = t.entry
        guard let plan = t.plan else {
            views.pending[e.id] = nil
            views.running[e.id] = nil
            return
        }
        views.pending[e.id] = e.state == .queued && !e.cancelRequested && !t.accepting && e.scaledToZeroAt == nil ? (pendingWorkload(t, plan: plan), e.notBefore) : nil
        views.running[e.id] = e.state.holdsCapacity ? runningWorkload(t, plan: plan) : nil
    }

    func rebuildEngineViews() {
        views.stale = false
        views.pending = [:]
        views.running = [:]
        for id in tracked.queued.union(tracked.holding) { if let t = tracked[id] { noteEngineView(t) } }
    }

    /// The engine's view of a workload that holds capacity: its pods where they were placed (nil when a node is gone).
    func runningWorkload(_ t: TrackedWorkload, plan: WorkloadPlan) -> RunningWorkload? {
        let e = t.entry
        let pending = pendingWorkload(t, plan: plan)
        let placements = e.placements.compactMap { p in engine.nodeIndex[p.node].map { Placement(node: $0, gpus: GPUSet(p.gpus)) } }
        guard placements.count == pending.pods.count else { return nil }
        let now = clock.now
        let started = Self.millis(e.startedAt ?? e.admittedAt ?? now)
        // Preemption loses the work since the last checkpoint of this attempt (or since it started).
        let checkpoint = e.lastCheckpoint.flatMap { $0.attempt == e.attempt ? max(started, Self.millis($0.at)) : nil }
        let charged = e.charged.map { engine.resources(cpuMilli: $0.cpuMilli, memoryMiB: $0.memoryMiB, gpuMilli: $0.gpuMilli) } ?? .zero
        return RunningWorkload(workload: pending, placements: placements, charged: charged, started: started, lastCheckpoint: checkpoint)
    }

    /// The engine's view of a tracked workload: its gang of pods in the pools it may use.
    func pendingWorkload(_ t: TrackedWorkload, plan: WorkloadPlan) -> PendingWorkload {
        let e = t.entry
        return PendingWorkload(id: e.id, team: e.team, user: e.owner ?? e.submittedBy, priority: e.priority, submitted: Self.millis(e.createdAt),
                               pods: Array(repeating: engine.shape(of: plan), count: e.podCount), sameDomain: plan.size.topology == .domain,
                               pools: engine.pools(for: plan), minRuntime: plan.minRuntime, preempts: plan.preempts)
    }

    /// Engine placements as node names and GPU indices.
    func podPlacements(_ ps: [Placement], plan: WorkloadPlan) -> [PodPlacement] {
        let shape = engine.shape(of: plan)
        return ps.map { PodPlacement(node: engine.cluster.names[$0.node], gpus: $0.gpus.indices, gpuMilli: shape.gpuCount > 0 ? Int(shape.gpuMilli) : 0) }
    }

    static func millis(_ d: Date) -> Int64 { Int64(d.timeIntervalSince1970 * 1000) }
}
