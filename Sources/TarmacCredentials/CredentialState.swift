import Foundation
import Synchronization
import TarmacIdentity

/// What every credential check reads, kept in memory and changed in place the moment a grant is decided, a workload's
/// attempt ends or a token is used: the gateway's deny list. Reads take a lock, never an actor hop.
final class CredentialState: Sendable {
    struct Values: Sendable {
        var grants: [String: Grant] = [:]
        /// Grant ids by workload, tool and scope.
        var index: [String: String] = [:]
        /// Per workload: its attempt that holds capacity. Credentials of any other attempt (an ended one, a workload
        /// that ended or is unknown) are refused.
        var live: [String: Int] = [:]
        /// One-time tokens already used, until they expire.
        var usedJTIs: [String: Int64] = [:]
        var lastPurge: Int64 = 0
    }

    let values = Mutex(Values())

    static func key(_ workload: String, _ tool: String, _ scope: String) -> String { workload + "\u{1F}" + tool + "\u{1F}" + scope }

    func put(_ grants: [Grant]) {
        values.withLock { v in
            for g in grants {
                v.grants[g.id] = g
                v.index[Self.key(g.workload, g.tool, g.scope)] = g.id
            }
        }
    }

    func grant(_ id: String) -> Grant? { values.withLock { $0.grants[id] } }
    func allGrants() -> [Grant] { values.withLock { Array($0.grants.values) } }
    func grants(of workload: String) -> [Grant] { values.withLock { $0.grants.values.filter { $0.workload == workload } } }

    func grant(workload: String, tool: String, scope: String) -> Grant? {
        values.withLock { v in v.index[Self.key(workload, tool, scope)].flatMap { v.grants[$0] } }
    }

    func grantActive(workload: String, tool: String, scope: String, now: Date) -> Bool {
        values.withLock { v in v.index[Self.key(workload, tool, scope)].flatMap { v.grants[$0] }?.active(at: now) ?? false }
    }

    /// Records a one-time token's use; false when it was used before.
    func consume(jti: String, until exp: Int64, now: Int64) -> Bool {
        values.withLock { v in
            if now - v.lastPurge > 30 {
                v.usedJTIs = v.usedJTIs.filter { $0.value >= now - TokenKeys.leeway }
                v.lastPurge = now
            }
            guard v.usedJTIs[jti] == nil else { return false }
            v.usedJTIs[jti] = exp
            return true
        }
    }
}
