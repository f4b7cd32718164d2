import TarmacCore
import Foundation
import TarmacAPI
import TarmacRuntime

// The API's wire types live in TarmacAPI (shared with the CLI and, later, the portal and SDKs); here only how the
// control plane's records become them.

extension WorkloadView {
    init(_ e: WorkloadEntry) {
        self.init(id: e.id, name: e.name, team: e.team, env: e.env, kind: e.kind, owner: e.owner, submittedBy: e.submittedBy,
                  requestID: e.clientRequestID, size: e.size, pods: e.podCount, priority: e.priority, state: e.state.rawValue,
                  message: e.message, cause: e.cause, attempt: e.attempt, maxAttempts: e.maxAttempts, cancelRequested: e.cancelRequested,
                  createdAt: e.createdAt, updatedAt: e.updatedAt, admittedAt: e.admittedAt, startedAt: e.startedAt, finishedAt: e.finishedAt,
                  placements: e.placements.map(PlacementView.init), exitCode: e.exitCode,
                  gpuSeconds: e.gpuSeconds, cpuSeconds: e.cpuSeconds, lastCheckpoint: e.lastCheckpoint.map(CheckpointView.init))
    }
}

extension TokenView {
    init(_ t: APIToken, secret: String? = nil) {
        self.init(id: t.id, name: t.name, role: t.role.rawValue, team: t.team, createdAt: t.createdAt, expiresAt: t.expiresAt,
                  revoked: t.revoked, createdBy: t.createdBy, secret: secret)
    }
}

extension AuditView {
    init(_ r: AuditRecord) {
        self.init(seq: r.seq, time: Date(timeIntervalSince1970: Double(r.timeMillis) / 1000), actorKind: r.actorKind, actorID: r.actorID,
                  action: r.action, object: r.object, before: r.before, after: r.after, detail: r.detail, previousHash: r.previousHash, hash: r.hash)
    }
}
