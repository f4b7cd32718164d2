import Foundation

/// `GET /v1/usage`: the metering ledger summed by the dimensions asked for, with its cost at the contract's rates.
public struct UsageReportView: Codable, Sendable, Hashable {
    /// The dimensions lines are summed by: team, user, env, kind, workload, model, accelerator, day.
    public var by: [String]
    /// The days covered: `since <= day < until` (UTC); nil: open.
    public var since: String?
    public var until: String?
    public var items: [UsageLineView]
    public var total: UsageLineView
    /// The budgeted teams the caller may see: this month's spend against the budget, and the forecast.
    public var budgets: [BudgetView]?
    public init(by: [String], since: String?, until: String?, items: [UsageLineView], total: UsageLineView, budgets: [BudgetView]? = nil) {
        self.budgets = budgets
        self.by = by
        self.since = since
        self.until = until
        self.items = items
        self.total = total
    }
}

/// One line of a usage report: its dimensions' values and the sums.
public struct UsageLineView: Codable, Sendable, Hashable {
    /// The value of each dimension summed by (`{"team": "search"}`); empty for the total.
    public var keys: [String: String]
    /// GPU-hours as shares (a quarter GPU for an hour is 0.25).
    public var gpuHours: Double
    public var cpuHours: Double
    public var memoryGiBHours: Double
    /// At the contract's rates: each accelerator's hourlyCost, costs.cpuCoreHour and costs.memoryGiBHour.
    public var cost: Double
    /// Workloads with usage in the line.
    public var workloads: Int
    /// What inference services served through Tarmac's inference gateway (absent: nothing): tokens from the answers'
    /// `usage`, answers, the cost per thousand tokens, and their replicas' model loads (count, mean seconds from a
    /// replica's start to its first ready answer).
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var requests: Int64?
    public var costPer1kTokens: Double?
    public var modelLoads: Int64?
    public var modelLoadSecondsMean: Double?
    public init(keys: [String: String], gpuHours: Double, cpuHours: Double, memoryGiBHours: Double, cost: Double, workloads: Int) {
        self.keys = keys
        self.gpuHours = gpuHours
        self.cpuHours = cpuHours
        self.memoryGiBHours = memoryGiBHours
        self.cost = cost
        self.workloads = workloads
    }
}

/// A team's month against its budget.
public struct BudgetView: Codable, Sendable, Hashable {
    public var team: String
    /// `2026-12` (UTC).
    public var month: String
    /// The budget: money per month and/or GPU-hours per month.
    public var monthly: Double?
    public var gpuHoursLimit: Double?
    public var warnAt: Double
    /// Spent this month (money at the contract's rates) and GPU-hours used, running attempts included.
    public var spent: Double
    public var gpuHours: Double
    /// At the pace so far, at the month's end.
    public var forecast: Double
    public var forecastGPUHours: Double
    /// ok, warning (past warnAt) or exceeded (new work waits).
    public var state: String
    public var message: String
    public init(team: String, month: String, monthly: Double?, gpuHoursLimit: Double?, warnAt: Double, spent: Double, gpuHours: Double, forecast: Double,
                forecastGPUHours: Double, state: String, message: String) {
        self.team = team
        self.month = month
        self.monthly = monthly
        self.gpuHoursLimit = gpuHoursLimit
        self.warnAt = warnAt
        self.spent = spent
        self.gpuHours = gpuHours
        self.forecast = forecast
        self.forecastGPUHours = forecastGPUHours
        self.state = state
        self.message = message
    }
}

/// `GET /v1/allocation`: OpenCost's response shape, one set over the window.
public struct AllocationResponse: Codable, Sendable, Hashable {
    public var code: Int
    public var data: [[String: AllocationView]]
    public init(code: Int = 200, data: [[String: AllocationView]]) {
        self.code = code
        self.data = data
    }
}

/// One allocation as OpenCost names its fields: hours of each resource held over the window, their average, their cost.
public struct AllocationView: Codable, Sendable, Hashable {
    public struct Range: Codable, Sendable, Hashable {
        public var start: Date
        public var end: Date
        public init(start: Date, end: Date) {
            self.start = start
            self.end = end
        }
    }
    public var name: String
    public var properties: [String: String]
    public var window: Range
    public var start: Date
    public var end: Date
    public var minutes: Double
    public var cpuCores: Double
    public var cpuCoreHours: Double
    public var cpuCost: Double
    public var gpuCount: Double
    public var gpuHours: Double
    public var gpuCost: Double
    public var ramBytes: Double
    public var ramByteHours: Double
    public var ramCost: Double
    public var pvCost: Double = 0
    public var networkCost: Double = 0
    public var sharedCost: Double = 0
    public var externalCost: Double = 0
    public var totalCost: Double

    public init(name: String, properties: [String: String], start: Date, end: Date, cpuCoreHours: Double, cpuCost: Double, gpuHours: Double, gpuCost: Double,
                ramByteHours: Double, ramCost: Double) {
        let hours = max(end.timeIntervalSince(start) / 3600, 1e-9)
        self.name = name
        self.properties = properties
        self.window = Range(start: start, end: end)
        self.start = start
        self.end = end
        self.minutes = end.timeIntervalSince(start) / 60
        self.cpuCores = cpuCoreHours / hours
        self.cpuCoreHours = cpuCoreHours
        self.cpuCost = cpuCost
        self.gpuCount = gpuHours / hours
        self.gpuHours = gpuHours
        self.gpuCost = gpuCost
        self.ramBytes = ramByteHours / hours
        self.ramByteHours = ramByteHours
        self.ramCost = ramCost
        self.totalCost = cpuCost + gpuCost + ramCost
    }
}

/// `GET /v1/inferenceCost/total`: what inference served over a window, by service (or team, model, workload), with
/// what it cost at the contract's rates: tokens and cost per thousand, answers, model loads.
public struct InferenceCostResponse: Codable, Sendable, Hashable {
    public var code: Int
    public var data: [String: InferenceCostView]
    public init(code: Int = 200, data: [String: InferenceCostView]) {
        self.code = code
        self.data = data
    }
}

public struct InferenceCostView: Codable, Sendable, Hashable {
    public var name: String
    public var window: AllocationView.Range
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var totalTokens: Int64
    public var requests: Int64
    public var gpuHours: Double
    public var totalCost: Double
    public var costPer1kTokens: Double?
    public var modelLoads: Int64
    public var modelLoadSecondsMean: Double?
    public init(name: String, window: AllocationView.Range, promptTokens: Int64, completionTokens: Int64, requests: Int64, gpuHours: Double, totalCost: Double,
                costPer1kTokens: Double?, modelLoads: Int64, modelLoadSecondsMean: Double?) {
        self.name = name
        self.window = window
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        totalTokens = promptTokens + completionTokens
        self.requests = requests
        self.gpuHours = gpuHours
        self.totalCost = totalCost
        self.costPer1kTokens = costPer1kTokens
        self.modelLoads = modelLoads
        self.modelLoadSecondsMean = modelLoadSecondsMean
    }
}
