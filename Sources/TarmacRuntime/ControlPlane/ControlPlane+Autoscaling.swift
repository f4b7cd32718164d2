import Foundation
import TarmacEngine
import TarmacModel

/// Autoscaling within admission: a service's autoscaler (on Kubernetes, its HPA) may ask for more replicas than were
/// admitted; each extra replica is a request to the engine, admitted only with quota and a placement, and only then
/// placed (until then its pod waits behind the placement gate). Fewer replicas free their slots at once.
extension ControlPlane {
    /// Engine requests for replicas beyond the admitted ones, and slots given back where an autoscaler scaled down.
    func replicaDemands(now: Date) async throws -> [PendingWorkload] {
        let demands = await backend.desiredReplicas()
        var out: [PendingWorkload] = []
        for (id, d) in demands.sorted(by: { $0.key < $1.key }) {
            guard let e = workloads[id], e.state == .running, !e.cancelRequested, let plan = plans[id],
                  case .inference(let service) = plan.workload.details else { continue }
            let floor = max(1, service.replicas.min)
            let want = min(max(d.replicas, floor), max(floor, service.replicas.max))
            if want > e.podCount {
                for k in e.podCount..<want {
                    out.append(PendingWorkload(id: "\(id)#\(k)", team: e.team, user: e.owner ?? e.submittedBy, priority: e.priority,
                                               submitted: Int64(now.timeIntervalSince1970 * 1000), pods: [plan.shape],
                                               pools: pools(for: plan), minRuntime: 0))
                }
            } else if want < e.podCount, d.runningOn.count == want {
                try await releaseReplicas(id, keeping: d.runningOn, now: now)
            }
        }
        return out
    }

    static func isReplicaRequest(_ id: String) -> Bool { id.contains("#") }

    /// One more replica of a running service was admitted: its slot joins the attempt and the backend places its pod.
    func admitReplica(_ a: Decision.Admission, now: Date) async throws {
        guard let hash = a.id.firstIndex(of: "#"), var e = workloads[String(a.id[..<hash])], e.state == .running, let plan = plans[e.id] else {
            dirty = true
            return
        }
        let before = e.digest
        accountSoFar(&e, until: now)
        let added = a.placements.map {
            PodPlacement(node: base.names[$0.node], gpus: $0.gpus.indices, gpuMilli: plan.shape.gpuCount > 0 ? Int(plan.shape.gpuMilli) : 0)
        }
        e.placements += added
        e.podCount += added.count
        e.charged = charge(resources(e.charged) + a.charged)
        e.updatedAt = now
        try await save(e, AuditDraft(time: now, actor: .scheduler, action: "scale-up", object: object(e), before: before, after: e.digest,
                                     detail: "replica \(e.podCount) admitted on \(added.map(\.node).joined(separator: ",")): its autoscaler asked for more"))
        logger.info("replica admitted", metadata: ["workload": "\(e.id)", "replicas": "\(e.podCount)"])
        do { try await backend.resize(workload: e.id, attempt: e.attempt, nodes: e.placements.map(\.node)) } catch {
            logger.warning("could not record the new replica's node in the backend", metadata: ["workload": "\(e.id)", "error": "\(error)"])
        }
    }

    /// An autoscaler scaled a service down: the slots of the replicas that went away are freed (quota and capacity).
    func releaseReplicas(_ id: String, keeping nodes: [String], now: Date) async throws {
        guard var e = workloads[id], e.podCount > nodes.count else { return }
        let before = e.digest
        var left = e.placements
        var kept: [PodPlacement] = []
        for n in nodes {
            guard let i = left.firstIndex(where: { $0.node == n }) else { return }  // not yet settled: wait
            kept.append(left.remove(at: i))
        }
        accountSoFar(&e, until: now)
        let old = e.podCount
        e.placements = kept
        e.podCount = kept.count
        e.charged = e.charged.map { $0.scaled(kept.count, of: old) }
        e.updatedAt = now
        try await save(e, AuditDraft(time: now, actor: .scheduler, action: "scale-down", object: object(e), before: before, after: e.digest,
                                     detail: "\(old) -> \(kept.count) replicas: its autoscaler asked for fewer; freed \(left.map(\.node).joined(separator: ","))"))
        try await backend.resize(workload: id, attempt: e.attempt, nodes: kept.map(\.node))
    }
}

extension Charge {
    /// The charge of `count` pods out of `total` equal ones.
    func scaled(_ count: Int, of total: Int) -> Charge {
        guard total > 0 else { return self }
        let f = { (v: Int64) in v / Int64(total) * Int64(count) }
        return Charge(cpuMilli: f(cpuMilli), memoryMiB: f(memoryMiB), gpuMilli: gpuMilli.mapValues(f))
    }
}
