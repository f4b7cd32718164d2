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
