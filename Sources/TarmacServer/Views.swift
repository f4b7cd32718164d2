import TarmacCore
import Foundation
import TarmacAPI
import TarmacRuntime

// The API's wire types live in TarmacAPI (shared with the CLI and, later, the portal and SDKs); here only how the
// control plane's records become them.

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
