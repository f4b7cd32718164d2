import Foundation
import TarmacAPI
import TarmacCore

// The stored values as the API shows them: the wire types may change shape without the store changing with them.

extension CheckpointView {
    public init(_ m: CheckpointMark) { self.init(at: m.at, attempt: m.attempt, step: m.step, location: m.location) }
}

extension PlacementView {
    public init(_ p: PodPlacement) { self.init(node: p.node, gpus: p.gpus, gpuMilli: p.gpuMilli) }
}

extension WorkloadView {
    public init(_ e: WorkloadEntry) {
        self.init(id: e.id, name: e.name, team: e.team, env: e.env, kind: e.kind, owner: e.owner, submittedBy: e.submittedBy,
                  requestID: e.clientRequestID, size: e.size, pods: e.podCount, priority: e.priority, state: e.state.rawValue,
                  message: e.message, cause: e.cause, attempt: e.attempt, maxAttempts: e.maxAttempts, cancelRequested: e.cancelRequested,
                  createdAt: e.createdAt, updatedAt: e.updatedAt, admittedAt: e.admittedAt, startedAt: e.startedAt, finishedAt: e.finishedAt,
                  placements: e.placements.map(PlacementView.init), exitCode: e.exitCode,
                  gpuSeconds: e.gpuSeconds, cpuSeconds: e.cpuSeconds, lastCheckpoint: e.lastCheckpoint.map(CheckpointView.init))
        cluster = e.placements.first.flatMap { FleetNodeName.split($0.node)?.cluster }
    }
}

extension AuditView {
    public init(_ r: AuditRecord) {
        self.init(seq: r.seq, time: Date(timeIntervalSince1970: Double(r.timeMillis) / 1000), actorKind: r.actorKind, actorID: r.actorID,
                  action: r.action, object: r.object, before: r.before, after: r.after, detail: r.detail, previousHash: r.previousHash, hash: r.hash)
    }
}
