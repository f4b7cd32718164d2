import ArgumentParser
import Foundation
import TarmacAPI

struct CostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "What workloads used and cost: GPU-, CPU- and memory-hours from the metering ledger, priced at the contract's rates.",
        discussion: """
        The ledger is kept in the data directory and survives restarts; it counts every transition once, from the time each attempt held its capacity, and splits long runs across the days they ran (UTC). GPU-hours are shares: a quarter GPU for an hour is 0.25. Cost is GPU-hours times the accelerator's hourlyCost, plus CPU core-hours times costs.cpuCoreHour and memory GiB-hours times costs.memoryGiBHour. Members see their team's lines, admins and auditors every team's. Teams with a budget (teams.NAME.budget in the contract) get a second table: this month's spend, the forecast to its end at the pace so far, and their state (warning past warnAt; exceeded: new work waits with reason budget).

        Examples:
          tarmac cost                          # by team, everything so far
          tarmac cost --by user --since 7d
          tarmac cost --by team,day --since 2026-12-01 -o csv
          tarmac cost --by workload --team search -o json
        """)

    @OptionGroup var client: ClientOptions
    @Option(help: ArgumentHelp("Sum by these, comma-separated: team, user, env, kind, workload, model, accelerator, day.", valueName: "DIMENSIONS"))
    var by: String = "team"
    @Option(help: "From this day on (2026-12-01, or 7d for the last seven days, or today).") var since: String?
    @Option(help: "Before this day (exclusive).") var until: String?
    @Option(help: "One team only.") var team: String?

    func run() async throws {
        try await runClient {
            var query = ["by=\(ServerClient.path(by))"]
            if let since { query.append("since=\(ServerClient.path(since))") }
            if let until { query.append("until=\(ServerClient.path(until))") }
            if let team { query.append("team=\(ServerClient.path(team))") }
            let data = try await client.client().call(.GET, "/v1/usage?" + query.joined(separator: "&")).body
            guard client.output.format == .text else { return try printStructured(data, client.output.format) }
            let r = try ServerClient.decode(UsageReportView.self, data)
            let dims = r.by
            // Tokens and model loads, when inference served any.
            let served = r.total.requests != nil
            func figures(_ l: UsageLineView) -> [String] {
                var out = [String(format: "%.3f", l.gpuHours), String(format: "%.3f", l.cpuHours), String(format: "%.3f", l.memoryGiBHours), l.cost > 0 && l.cost < 0.005 ? "<0.01" : String(format: "%.2f", l.cost), String(l.workloads)]
                if served {
                    out.append(l.promptTokens.map { String($0 + (l.completionTokens ?? 0)) } ?? "-")
                    out.append(l.costPer1kTokens.map { String(format: "%.4f", $0) } ?? "-")
                    out.append(l.modelLoadSecondsMean.map { String(format: "%.1fs", $0) } ?? "-")
                }
                return out
            }
            let rows = r.items.map { l in dims.map { l.keys[$0] ?? "" } + figures(l) }
                + [dims.enumerated().map { i, _ in i == 0 ? "TOTAL" : "" } + figures(r.total)]
            let span = [r.since.map { "since \($0)" }, r.until.map { "until \($0)" }].compactMap { $0 }.joined(separator: ", ")
            if !span.isEmpty { print(span) }
            print(Terminal.table(dims.map { $0.uppercased() } + ["GPU-HOURS", "CPU-HOURS", "MEM-GIB-HOURS", "COST", "WORKLOADS"]
                                 + (served ? ["TOKENS", "COST/1K-TOKENS", "MODEL-LOAD"] : []), rows))
            if let budgets = r.budgets, !budgets.isEmpty {
                print("")
                print(Terminal.table(["TEAM", "MONTH", "BUDGET", "SPENT", "FORECAST", "GPU-HOURS (LIMIT)", "STATE"], budgets.map { b in
                    [b.team, b.month, b.monthly.map { String(format: "%.2f", $0) } ?? "-", String(format: "%.2f", b.spent), String(format: "%.2f", b.forecast),
                     String(format: "%.1f", b.gpuHours) + (b.gpuHoursLimit.map { String(format: " (%.1f)", $0) } ?? ""), b.state]
                }))
                for b in budgets where b.state != "ok" { print(b.message) }
            }
        }
    }
}
