import Foundation
import Logging
import TarmacAPI
import TarmacCore
import TarmacMetering

extension ControlPlane {
    /// The usage ledger summed by the given dimensions between two days (inclusive, `2026-12-01`), at the contract's
    /// rates, with the budgets of the teams the caller may read: `GET /v1/usage`, `tarmac cost` and the portal's Costs.
    public func usageReport(by: [UsageReport.Dimension], since: String?, until: String?, team: String?, caller p: Principal) async throws -> UsageReportView {
        if let team, !p.canRead(team: team) { throw RuntimeError(.notFound, "no team '\(team)'") }
        await MeteringService.catchUp(store, logger: Logger(label: "tarmac.metering"))
        let rows = try await store.usage(since: since, until: until, team: team).filter { p.canRead(team: $0.team) }
        let rates = UsageReport.Rates(platform: contract.platform)
        let (lines, total) = UsageReport.sum(rows, by: by, rates: rates)
        let budgets = budgetStatuses().filter { p.canRead(team: $0.team) && (team == nil || $0.team == team) }.map { b in
            BudgetView(team: b.team, month: b.month, monthly: b.budget.monthly, gpuHoursLimit: b.budget.gpuHours, warnAt: b.budget.warnAt, spent: b.spent,
                       gpuHours: b.gpuHours, forecast: b.forecast, forecastGPUHours: b.forecastGPUHours, state: b.state.rawValue, message: b.message)
        }
        return UsageReportView(by: by.map(\.rawValue), since: since, until: until, items: lines.map(UsageLineView.init), total: UsageLineView(total),
                               budgets: budgets.isEmpty ? nil : budgets)
    }
}

extension UsageLineView {
    public init(_ l: UsageReport.Line) {
        self.init(keys: l.keys, gpuHours: l.gpuSeconds / 3600, cpuHours: l.cpuSeconds / 3600, memoryGiBHours: l.memoryGiBSeconds / 3600,
                  cost: (l.cost * 1_000_000).rounded() / 1_000_000, workloads: l.workloads.count)
        if l.requests > 0 || l.modelLoads > 0 {
            promptTokens = l.promptTokens
            completionTokens = l.completionTokens
            requests = l.requests
            costPer1kTokens = l.costPer1kTokens
            modelLoads = l.modelLoads
            modelLoadSecondsMean = l.modelLoads > 0 ? l.modelLoadSeconds / Double(l.modelLoads) : nil
        }
    }
}
