import TarmacCore
import Foundation
import TarmacEngine
import TarmacModel
import TarmacPlanning

/// Autoscaling within admission: a service's autoscaler (on Kubernetes, its HPA) may ask for more replicas than were
/// admitted; each extra replica is a request to the engine, admitted only with quota and a placement, and only then
/// placed (until then its pod waits behind the placement gate). Fewer replicas free their slots at once.
extension ControlPlane {
    /// Engine requests for replicas beyond the admitted ones, and slots given back where an autoscaler scaled down.
    func replicaDemands(now: Date) async throws -> [PendingWorkload] {
        let demands = await backend.desiredReplicas()
        var out: [PendingWorkload] = []
        for (id, d) in demands.sorted(by: { $0.key < $1.key }) {
            guard let t = tracked[id], t.state == .running, !t.entry.cancelRequested, let plan = t.plan,
                  case .inference(let service) = plan.workload.details else { continue }
            let e = t.entry
            let floor = max(1, service.replicas.min)
            let want = min(max(d.replicas, floor), max(floor, service.replicas.max))
            if want > e.podCount {
                for k in e.podCount..<want {
                    out.append(PendingWorkload(id: "\(id)#\(k)", team: e.team, user: e.owner ?? e.submittedBy, priority: e.priority,
                                               submitted: Self.millis(now), pods: [engine.shape(of: plan)], pools: engine.pools(for: plan), minRuntime: 0, preempts: plan.preempts))
                }
            } else if want < e.podCount, d.runningOn.count == want {
                // The slots of the replicas that run are kept; the others are freed (quota and capacity).
                var left = e.placements
                var kept: [PodPlacement] = []
                for n in d.runningOn {
                    guard let i = left.firstIndex(where: { $0.node == n }) else { break }
                    kept.append(left.remove(at: i))
                }
                guard kept.count == d.runningOn.count else { continue }  // not yet settled: wait
                try await apply(id, .scaledDown(kept: kept))
            }
        }
        return out
    }

    static func isReplicaRequest(_ id: String) -> Bool { id.contains("#") }

    /// One more replica of a running service was admitted: its slot joins the attempt and the backend places its pod.
    func admitReplica(_ a: Decision.Admission, now: Date) async throws {
        guard let hash = a.id.firstIndex(of: "#"), let t = tracked[String(a.id[..<hash])], t.state == .running, let plan = t.plan else {
            loop.dirty = true
            return
        }
        let added = podPlacements(a.placements, plan: plan)
        let before = t.entry.charged.map { engine.resources(cpuMilli: $0.cpuMilli, memoryMiB: $0.memoryMiB, gpuMilli: $0.gpuMilli) } ?? .zero
        let total = before + a.charged
        let charge = Charge(cpuMilli: total.cpuMilli, memoryMiB: total.memoryMiB, gpuMilli: engine.gpuByName(total))
        try await apply(t.id, .scaledUp(added: added, charge: charge))
        logger.info("replica admitted", metadata: ["workload": "\(t.id)", "replicas": "\(tracked[t.id]?.entry.podCount ?? 0)"])
    }
}
