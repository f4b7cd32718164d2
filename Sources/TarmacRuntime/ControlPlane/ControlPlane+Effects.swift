import TarmacCore
import Foundation
import Logging
import TarmacEngine
import TarmacPlanning

/// The effect runner: one step of the state machine at a time per workload; the store first, then the backend, in the
/// order the machine gave; what the backend answers comes back as the next event.
extension ControlPlane {
    /// Feeds an event to a workload's state machine and runs the effects, then the events they lead to (a launch that
    /// failed; a start, where the backend does not report starts itself).
    func apply(_ id: String, _ event: WorkloadEvent) async throws {
        await acquire(id)
        defer { relinquish(id) }
        var events = [event]
        while !events.isEmpty {
            let ev = events.removeFirst()
            guard let t = tracked[id] else { return }
            let (next, effects) = machine.step(t, ev, now: clock.now)
            try await commit(next, effects)
            events += await perform(next, effects)
        }
    }

    /// Feeds many events at once: each workload's in order, different workloads side by side, so that their store
    /// writes share group commits instead of waiting for one fsync each. Errors are logged with `what`.
    func applyAll(_ events: [(String, WorkloadEvent)], what: String) async {
        var order: [String] = []
        var byWorkload: [String: [WorkloadEvent]] = [:]
        for (id, e) in events {
            if byWorkload[id] == nil { order.append(id) }
            byWorkload[id, default: []].append(e)
        }
        if order.count == 1, let id = order.first {
            await applyInOrder(id, byWorkload[id]!, what: what)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for id in order {
                let evs = byWorkload[id]!
                group.addTask { await self.applyInOrder(id, evs, what: what) }
            }
        }
    }

    private func applyInOrder(_ id: String, _ events: [WorkloadEvent], what: String) async {
        for e in events {
            do { try await apply(id, e) } catch { logger.error("could not record \(what)", metadata: ["workload": "\(id)", "error": "\(error)"]) }
        }
    }

    /// Persists the step (entry, audit records and transitions in one transaction), then keeps it and publishes it.
    func commit(_ t: TrackedWorkload, _ effects: [WorkloadEffect]) async throws {
        var audit: [AuditDraft] = []
        var emitted: [Transition] = []
        for effect in effects {
            switch effect {
            case .persist(let a): audit.append(a)
            case .emit(let tr): emitted.append(tr)
            default: break
            }
        }
        if !audit.isEmpty || !emitted.isEmpty {
            let stored = try await store.update([t.entry], audit: audit, transitions: emitted)
            let before = tracked[t.id]
            tracked.upsert(t)
            noteEngineView(t)
            if t.state != .queued { views.waitReasons[t.id] = nil }
            // What the next cycle must look at: capacity given back lets waiting work in (in the pools of the plan it
            // held, which an ending step lets go); a workload back in the queue is new to it.
            if let b = before?.entry, b.state.holdsCapacity, !t.state.holdsCapacity || t.entry.podCount < b.podCount { noteFreed(t.entry, plan: t.plan ?? before?.plan) }
            if t.state == .queued, before?.state != .queued { loop.fresh.insert(t.id) }
            if t.state.isTerminal { loop.fresh.remove(t.id) }
            loop.dirty = true
            transitions.publish(stored)
            for tr in stored where tr.to.isTerminal {
                logger.info("workload ended", metadata: ["workload": "\(tr.workload)", "name": "\(tr.name)", "state": "\(tr.to.rawValue)",
                                                         "cause": "\(tr.cause ?? "-")"])
            }
        } else {
            tracked.upsert(t)
            noteEngineView(t)
        }
    }

    /// Room and quota given back by a workload: what waits in its pools or its quota group is examined at the next cycle.
    func noteFreed(_ e: WorkloadEntry, plan: WorkloadPlan?) {
        guard let plan, let pools = engine.pools(for: plan) else {
            loop.capacityFreed = true
            return
        }
        loop.freedPools.formUnion(pools)
        loop.freedGroups.insert(quotaGroup(of: e.team))
    }

    func quotaGroup(of team: String) -> String { TeamQuota.group(team: team, cohort: contract.platform.teams[team]?.cohort) }

    /// The backend's part of a step. Returns the events that follow from it.
    func perform(_ t: TrackedWorkload, _ effects: [WorkloadEffect]) async -> [WorkloadEvent] {
        var follow: [WorkloadEvent] = []
        for effect in effects {
            switch effect {
            case .persist, .emit:
                continue
            case .launch(let attempt, let pods):
                guard let plan = t.plan else { continue }
                let e = t.entry
                let all = plan.launches(for: e, trustDomain: machine.trustDomain, graceSeconds: config.graceSeconds, now: clock.now,
                                        checkpoint: checkpointAccess(e), identityURL: config.advertiseURL, gatewayURL: config.gatewayURL,
                                        bootstrap: { [config] pod in config.advertiseURL == nil ? nil : self.identityBootstrap(workload: e.id, attempt: e.attempt, pod: pod) })
                var chosen = pods.compactMap { i in all.indices.contains(i) ? all[i] : nil }
                guard !chosen.isEmpty else { continue }
                if let mount = await modelMount(plan, team: e.team) {
                    for i in chosen.indices { chosen[i].model = mount }
                }
                do {
                    try await backend.launch(chosen)
                    logger.info("launched", metadata: ["workload": "\(t.id)", "attempt": "\(attempt)", "pods": "\(chosen.count)"])
                    // Running means its pods run: at launch for local processes; when the backend says so where placement takes time.
                    if !backend.reportsStarts { follow.append(.started(attempt: attempt, reportedByBackend: false)) }
                } catch {
                    follow.append(.launchFailed(attempt: attempt, detail: "\(error)"))
                }
            case .stop(let attempt):
                await backend.stop(workload: t.id, attempt: attempt)
            case .resize(let attempt, let nodes):
                do { try await backend.resize(workload: t.id, attempt: attempt, nodes: nodes) } catch {
                    logger.warning("could not record the replicas' nodes in the backend", metadata: ["workload": "\(t.id)", "error": "\(error)"])
                }
            case .accept:
                guard let plan = t.plan else { continue }
                do {
                    try await backend.accept(ActiveWorkload(id: t.id, plan: plan, attempt: 0, holdsCapacity: false))
                } catch let r as BackendRejection {
                    follow.append(.rejected(message: r.message))
                    continue
                } catch {
                    logger.warning("the backend could not prepare the workload yet; it will at admission", metadata: ["workload": "\(t.id)", "error": "\(error)"])
                }
                follow.append(.accepted)
            case .release:
                await backend.release(workload: t.id)
            }
        }
        return follow
    }

    /// Waits until no other step of this workload is in flight, then holds it.
    func acquire(_ id: String) async {
        if busy[id] == nil {
            busy[id] = []
            return
        }
        await withCheckedContinuation { c in busy[id]!.append(c) }
    }

    /// Hands the workload to the next waiting step, or frees it.
    func relinquish(_ id: String) {
        guard var waiters = busy[id], !waiters.isEmpty else {
            busy[id] = nil
            return
        }
        let next = waiters.removeFirst()
        busy[id] = waiters
        next.resume()
    }
}
