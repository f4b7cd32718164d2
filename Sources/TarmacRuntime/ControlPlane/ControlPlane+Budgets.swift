import Foundation
import Metrics
import TarmacCore
import TarmacEngine
import TarmacMetering
import TarmacModel
import TarmacPlanning

/// Budgets: every few seconds, each budgeted team's spend this month (the metering ledger, brought up to date, plus
/// what its running attempts used since they were last accounted) against its budget. Over it, the team's new work
/// waits (the engine sees a quota hold: reason `budget`, with the figures); past `warnAt`, it is warned (submit's
/// warnings, `tarmac cost`); each change of state is an audit record and `tarmac_budget_*` gauges say where teams stand.
extension ControlPlane {
    func refreshBudgets() async {
        let now = clock.now
        let platform = contract.platform
        let budgeted = platform.teams.values.filter { $0.budget != nil }
        guard !budgeted.isEmpty || !budgets.holds.isEmpty else { return }
        guard budgets.due || now.timeIntervalSince(budgets.lastLook ?? .distantPast) >= BudgetWatch.every || (budgets.lastLook ?? now) > now else { return }
        budgets.due = false
        budgets.lastLook = now
        let (month, start, _) = BudgetStatus.month(of: now)
        let rates = UsageReport.Rates(platform: platform)
        var spent: [String: (money: Double, gpuSeconds: Double)] = [:]
        do {
            await MeteringService.catchUp(store, logger: logger)
            for t in try await store.usageTotals(since: String(month) + "-01", until: nil) where platform.teams[t.team]?.budget != nil {
                let r = UsageRow(day: "", workload: "", name: "", team: t.team, env: "", kind: "", user: "", model: nil, accelerator: t.accelerator,
                                 gpuSeconds: t.gpuSeconds, cpuSeconds: t.cpuSeconds, memoryGiBSeconds: t.memoryGiBSeconds)
                spent[t.team, default: (0, 0)].money += rates.cost(r)
                spent[t.team, default: (0, 0)].gpuSeconds += t.gpuSeconds
            }
        } catch {
            logger.warning("could not read the metering ledger for budgets; keeping the last figures", metadata: ["error": "\(error)"])
            return
        }
        // What running attempts used since they were last accounted (this month's part): not in the ledger yet.
        for id in tracked.holding {
            guard let t = tracked[id], platform.teams[t.entry.team]?.budget != nil, let plan = t.plan,
                  let since = t.entry.accountedUntil ?? t.entry.startedAt ?? t.entry.admittedAt else { continue }
            let seconds = max(0, now.timeIntervalSince(max(since, start))) * Double(t.entry.podCount)
            let row = UsageRow(day: "", workload: id, name: t.entry.name, team: t.entry.team, env: t.entry.env, kind: t.entry.kind, user: t.entry.submittedBy,
                               model: nil, accelerator: plan.size.accelerator, gpuSeconds: seconds * Double(plan.size.gpus.thousandths) / 1000,
                               cpuSeconds: seconds * Double(plan.size.cpu.millis) / 1000, memoryGiBSeconds: seconds * Double(plan.size.memory.bytes) / Double(1 << 30))
            spent[t.entry.team, default: (0, 0)].money += rates.cost(row)
            spent[t.entry.team, default: (0, 0)].gpuSeconds += row.gpuSeconds
        }
        var statuses: [String: BudgetStatus] = [:]
        for team in budgeted {
            let s = spent[team.name] ?? (0, 0)
            statuses[team.name] = BudgetStatus.evaluate(team: team.name, budget: team.budget!, spent: s.money, gpuHours: s.gpuSeconds / 3600, now: now)
        }
        let holds = statuses.compactMapValues(BudgetWatch.hold)
        let before = budgets.seen
        budgets.statuses = statuses
        budgets.seen = statuses.mapValues(\.state)
        for s in statuses.values {
            if let b = s.binding {
                Gauge(label: "tarmac_budget_spent", dimensions: [("team", s.team), ("unit", b.unit)]).record(b.spent)
                Gauge(label: "tarmac_budget_limit", dimensions: [("team", s.team), ("unit", b.unit)]).record(b.limit)
            }
        }
        // Each change of a team's state, as this process saw it, is an audit record with the figures.
        if let before {
            var drafts: [AuditDraft] = []
            for (team, s) in statuses.sorted(by: { $0.key < $1.key }) where s.state != (before[team] ?? .ok) {
                let action = s.state == .exceeded ? "budget-exceeded" : s.state == .warning ? "budget-warning" : "budget-restored"
                drafts.append(AuditDraft(time: now, actor: .scheduler, action: action, object: "team/\(team)", detail: s.message))
            }
            for (team, was) in before where statuses[team] == nil && was != .ok {
                drafts.append(AuditDraft(time: now, actor: .scheduler, action: "budget-restored", object: "team/\(team)", detail: "team \(team) has no budget any more"))
            }
            if !drafts.isEmpty {
                do { try await store.appendAudit(drafts) } catch { logger.error("could not record a budget change", metadata: ["error": "\(error)"]) }
                for d in drafts { logger.notice("budget", metadata: ["action": "\(d.action)", "detail": "\(d.detail)"]) }
            }
        }
        // Over a budget that says so, the team's running jobs are preempted: they wait with the rest of its work.
        var stops: [(String, WorkloadEvent)] = []
        for (team, s) in statuses.sorted(by: { $0.key < $1.key }) where s.state == .exceeded && platform.teams[team]?.budget?.stopPreemptible == true {
            for id in tracked.holding.sorted() {
                guard let e = tracked[id]?.entry, e.team == team, e.kind == "TrainingJob" || e.kind == "BatchJob", !e.cancelRequested else { continue }
                stops.append((id, .preempted(by: "budget", reason: "team \(team) is over its budget (stopPreemptible)")))
            }
        }
        if !stops.isEmpty { await applyAll(stops, what: "a budget's stop") }
        if holds != budgets.holds {
            budgets.holds = holds
            // Who may be admitted changed: every queued workload is looked at again.
            loop.capacityFreed = true
            loop.dirty = true
        }
    }

    /// The engine's quotas with the budgets' holds.
    var quotasWithHolds: [TeamQuota] {
        guard !budgets.holds.isEmpty else { return engine.quotas }
        return engine.quotas.map { q in
            var q = q
            q.hold = budgets.holds[q.name]
            return q
        }
    }

    /// The nodes workloads run on now (as the backend last reported them).
    public func inventoryNodes() -> [NodeInventory] { nodes }

    /// Each budgeted team's status at the last look.
    public func budgetStatuses() -> [BudgetStatus] { budgets.statuses.values.sorted { $0.team < $1.team } }

    /// What a submit for `team` (and `get` and `why` of its workloads) is told about its budget (nil: nothing to say).
    public func budgetWarning(team: String) -> String? {
        guard let s = budgets.statuses[team], s.state != .ok else { return nil }
        return s.message
    }
}
