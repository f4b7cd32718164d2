import Foundation
import TarmacEngine
import TarmacMetering

/// What the control plane knows of its teams' budgets between looks: each team's status, and the holds the engine
/// sees as one more quota dimension (a team over its budget admits nothing new).
struct BudgetWatch {
    var statuses: [String: BudgetStatus] = [:]
    var holds: [String: QuotaShortfall] = [:]
    var lastLook: Date?
    /// The teams' states as last seen by this process (a change is audited; the first look only sets them).
    var seen: [String: BudgetStatus.State]?
    /// Look again at the next turn (the contract changed).
    var due = true

    /// How often spend is read again: the ledger and the running attempts' usage since they were last accounted.
    static let every: TimeInterval = 5

    /// The engine's hold for a status (nil: the team may admit).
    static func hold(_ s: BudgetStatus) -> QuotaShortfall? {
        guard s.state == .exceeded, let b = s.binding else { return nil }
        return QuotaShortfall(resource: "budget:\(b.unit)", needed: Int64((b.spent * 1000).rounded()), available: Int64((b.limit * 1000).rounded()), detail: s.message)
    }
}
