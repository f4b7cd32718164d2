import Foundation
import TarmacModel

/// Where a team stands against its monthly budget: what it spent this month (in money at the contract's rates, and in
/// GPU-hours), the forecast to the month's end at the pace so far, and whether it is to be warned or held. Pure.
public struct BudgetStatus: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, Comparable {
        case ok, warning, exceeded
        public static func < (a: State, b: State) -> Bool { [State.ok, .warning, .exceeded].firstIndex(of: a)! < [State.ok, .warning, .exceeded].firstIndex(of: b)! }
    }

    public var team: String
    /// `2026-12`.
    public var month: String
    public var budget: Budget
    public var spent: Double
    public var gpuHours: Double
    /// At the pace so far, what the month will have cost (and GPU-hours it will have used) at its end.
    public var forecast: Double
    public var forecastGPUHours: Double
    public var state: State

    /// The limit that is hit first, as words and figures: `(money, 12.4, 10)` or `(gpu-hours, 410, 400)`.
    public var binding: (unit: String, spent: Double, limit: Double)? {
        let money = budget.monthly.map { ("money", spent, $0) }
        let gpu = budget.gpuHours.map { ("gpu-hours", gpuHours, $0) }
        return [money, gpu].compactMap { $0 }.max { Self.share($0.1, $0.2) < Self.share($1.1, $1.2) }
    }

    static func share(_ spent: Double, _ limit: Double) -> Double { limit > 0 ? spent / limit : (spent > 0 ? .infinity : 1) }

    /// The team's status from its spend so far this month; `now` says how far into the month (for the forecast).
    public static func evaluate(team: String, budget: Budget, spent: Double, gpuHours: Double, now: Date) -> BudgetStatus {
        let (month, start, end) = Self.month(of: now)
        let elapsed = max(1, now.timeIntervalSince(start)), length = end.timeIntervalSince(start)
        var s = BudgetStatus(team: team, month: month, budget: budget, spent: spent, gpuHours: gpuHours, forecast: spent / elapsed * length,
                             forecastGPUHours: gpuHours / elapsed * length, state: .ok)
        if let b = s.binding {
            let share = Self.share(b.spent, b.limit)
            s.state = share >= 1 ? .exceeded : share >= budget.warnAt ? .warning : .ok
        }
        return s
    }

    /// In words, for `why`, submit's warnings and the audit trail.
    public var message: String {
        guard let b = binding else { return "team \(team) has no budget" }
        let figures = b.unit == "money" ? String(format: "spent %.2f of its monthly budget of %.2f", b.spent, b.limit)
                                        : String(format: "used %.1f of its %.1f GPU-hours for the month", b.spent, b.limit)
        switch state {
        case .exceeded: return "team \(team) \(figures) (\(month)): its new work waits until the month ends or the budget is raised"
        case .warning: return "team \(team) \(figures) (\(month), \(Int((Self.share(b.spent, b.limit) * 100).rounded(.down)))%)"
        case .ok: return "team \(team) \(figures) (\(month))"
        }
    }

    /// The UTC calendar month of a time: its name, its first instant and the next month's first instant.
    public static func month(of date: Date) -> (name: String, start: Date, end: Date) {
        let day = UsageLedger.day(date.timeIntervalSince1970)  // 2026-12-07
        let y = Int(day.prefix(4))!, m = Int(day.dropFirst(5).prefix(2))!
        func first(_ y: Int, _ m: Int) -> Date {
            var c = DateComponents()
            c.year = y
            c.month = m
            c.day = 1
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            return cal.date(from: c)!
        }
        return (String(day.prefix(7)), first(y, m), m == 12 ? first(y + 1, 1) : first(y, m + 1))
    }
}
