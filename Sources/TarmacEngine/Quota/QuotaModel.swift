/// A team's quota: nominal amounts, how much it may borrow from its cohort and lend to it, and its fair-share weight.
/// `nil` limits are unlimited (as in Kueue).
public struct TeamQuota: Hashable, Sendable {
    public var name: String
    public var nominal: Resources
    public var cohort: String?
    public var borrowingLimit: Resources?
    public var lendingLimit: Resources?
    public var weight: Double
    /// A dimension beyond the resources that is exhausted (the team's budget): while set, nothing more of the team is
    /// admitted, and this is the reason, with its figures.
    public var hold: QuotaShortfall?

    public init(name: String, nominal: Resources, cohort: String? = nil, borrowingLimit: Resources? = nil, lendingLimit: Resources? = nil, weight: Double = 1) {
        self.name = name
        self.nominal = nominal
        self.cohort = cohort
        self.borrowingLimit = borrowingLimit
        self.lendingLimit = lendingLimit
        self.weight = weight
    }

    /// Where a team's quota is pooled, as one name: its cohort (`cohort:NAME`), or the team alone (`team:NAME`).
    /// Quota given back there can let in any waiting workload charged to the same group.
    public static func group(team: String, cohort: String?) -> String {
        cohort.map { "cohort:" + $0 } ?? "team:" + team
    }
}

/// Quota arithmetic over teams and cohorts. A team uses its nominal quota first; beyond it, it borrows what other
/// teams of its cohort do not use (within their lending limits and its own borrowing limit).
public struct QuotaBook: Sendable {
    public private(set) var teams: [String: TeamQuota]
    /// What each team holds now.
    public private(set) var usage: [String: Resources]
    /// Per cohort: its teams, their nominal quota in all, and what they hold in all (kept current by charge and refund).
    private var members: [String: [String]] = [:]
    private var cohortNominal: [String: Resources] = [:]
    private var cohortUsage: [String: Resources] = [:]

    public init(teams: [TeamQuota], usage: [String: Resources] = [:]) {
        self.teams = Dictionary(uniqueKeysWithValues: teams.map { ($0.name, $0) })
        self.usage = usage
        for t in teams {
            guard let c = t.cohort else { continue }
            members[c, default: []].append(t.name)
            cohortNominal[c] = (cohortNominal[c] ?? .zero) + t.nominal
            cohortUsage[c] = (cohortUsage[c] ?? .zero) + (usage[t.name] ?? .zero)
        }
    }

    public func used(_ team: String) -> Resources { usage[team] ?? .zero }

    /// What the team holds beyond its nominal quota.
    public func borrowed(_ team: String) -> Resources {
        guard let q = teams[team] else { return used(team) }
        return (used(team) - q.nominal).clampedAtZero
    }

    /// What a team leaves unused and may lend: nominal minus usage, within its lending limit.
    func lendable(_ q: TeamQuota) -> Resources {
        let idle = (q.nominal - used(q.name)).clampedAtZero
        return q.lendingLimit.map { idle.capped(by: $0) } ?? idle
    }

    /// Why `request` cannot be admitted for `team` now, or nil if quota allows it.
    public func shortfall(team: String, request: Resources) -> QuotaShortfall? {
        guard let q = teams[team] else { return QuotaShortfall(resource: "team", needed: 0, available: 0, detail: "team '\(team)' has no quota") }
        if let hold = q.hold { return hold }
        let after = used(team) + request
        // A cohort never holds more than its teams' nominal quota, in any resource. Capacity of this team that another
        // team has borrowed is not there until it is reclaimed (by preempting the borrower).
        if let cohort = q.cohort {
            let cohortUsed = (cohortUsage[cohort] ?? .zero) + request
            if let r = firstExceeding(cohortUsed, cohortNominal[cohort] ?? .zero) {
                let ownIdle = after.fits(in: q.nominal) || firstExceeding(after, q.nominal)?.name != r.name
                return QuotaShortfall(resource: r.name, needed: r.need, available: r.have,
                                      detail: ownIdle ? "cohort '\(cohort)' has lent this team's idle quota out; it is reclaimed by preempting borrowers"
                                                      : "cohort '\(cohort)' has no more to lend")
            }
        }
        if after.fits(in: q.nominal) { return nil }
        let borrow = (after - q.nominal).clampedAtZero
        if let limit = q.borrowingLimit, let r = firstExceeding(borrow, limit) {
            return QuotaShortfall(resource: r.name, needed: r.need, available: r.have, detail: "beyond the borrowing limit")
        }
        guard let cohort = q.cohort else {
            let r = firstExceeding(after, q.nominal)!
            return QuotaShortfall(resource: r.name, needed: r.need, available: r.have, detail: "beyond nominal quota, and the team is in no cohort")
        }
        // What the cohort can lend to this team: what the others leave idle (within their lending limits),
        // minus what the others already borrow. `borrow` is everything this team would hold beyond its nominal.
        var pool = Resources()
        for name in members[cohort] ?? [] where name != team {
            guard let other = teams[name] else { continue }
            pool = pool + lendable(other) - borrowed(name)
        }
        let available = pool.clampedAtZero
        if let r = firstExceeding(borrow, available) {
            return QuotaShortfall(resource: r.name, needed: r.need, available: r.have, detail: "cohort '\(cohort)' has no more to lend")
        }
        return nil
    }

    /// The first resource where `a` exceeds `b`.
    func firstExceeding(_ a: Resources, _ b: Resources) -> (name: String, need: Int64, have: Int64)? {
        if a.cpuMilli > b.cpuMilli { return ("cpu", a.cpuMilli, b.cpuMilli) }
        if a.memoryMiB > b.memoryMiB { return ("memory", a.memoryMiB, b.memoryMiB) }
        for i in 0..<Resources.maxModels where a.gpu[i] > b.gpu[i] { return ("gpu[\(i)]", a.gpu[i], b.gpu[i]) }
        return nil
    }

    /// The team's dominant share: its largest usage over nominal across resources, divided by its weight.
    public func dominantShare(_ team: String) -> Double {
        guard let q = teams[team] else { return .infinity }
        let u = used(team)
        var share = 0.0
        func ratio(_ used: Int64, _ nominal: Int64) -> Double { used == 0 ? 0 : (nominal == 0 ? Double(used) : Double(used) / Double(nominal)) }
        share = max(share, ratio(u.cpuMilli, q.nominal.cpuMilli))
        share = max(share, ratio(u.memoryMiB, q.nominal.memoryMiB))
        for i in 0..<Resources.maxModels where u.gpu[i] != 0 { share = max(share, ratio(u.gpu[i], q.nominal.gpu[i])) }
        return share / max(q.weight, 1e-9)
    }

    public mutating func charge(_ team: String, _ r: Resources) {
        usage[team] = used(team) + r
        if let c = teams[team]?.cohort { cohortUsage[c] = (cohortUsage[c] ?? .zero) + r }
    }

    /// Puts a hold on a team (its budget is spent: nothing more of it is admitted), or lifts it (nil).
    public mutating func setHold(_ hold: QuotaShortfall?, team: String) {
        teams[team]?.hold = hold
    }

    public mutating func refund(_ team: String, _ r: Resources) {
        usage[team] = used(team) - r
        if let c = teams[team]?.cohort { cohortUsage[c] = (cohortUsage[c] ?? .zero) - r }
    }
}

/// Why quota blocks a workload, with the numbers.
public struct QuotaShortfall: Hashable, Sendable {
    /// `cpu` (millis), `memory` (MiB), `gpu[i]` (thousandths of GPU model i), `team`, or `budget:money` /
    /// `budget:gpu-hours` (a team's hold: spent and the limit, in thousandths of the unit).
    public var resource: String
    public var needed: Int64
    public var available: Int64
    public var detail: String

    public init(resource: String, needed: Int64, available: Int64, detail: String) {
        self.resource = resource
        self.needed = needed
        self.available = available
        self.detail = detail
    }
}
