import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacMetering
import TarmacRuntime

/// Costs: spend by team and by user since a day (this month by default) against the teams' budgets, as
/// server-rendered SVG charts and tables: the control plane's usage report (`GET /v1/usage`, `tarmac cost`).
extension Portal {
    func costs(_ request: Request, _ s: SignedIn) async throws -> Response {
        let cp = deps.controlPlane
        let now = cp.clock.now
        let month = String(UsageLedger.day(now.timeIntervalSince1970).prefix(7))
        let since = request.uri.queryParameters.get("since").flatMap { Self.isDay($0) ? $0 : nil } ?? month + "-01"
        let byTeam = try await cp.usageReport(by: [.team], since: since, until: nil, team: nil, caller: s.principal)
        let byUser = try await cp.usageReport(by: [.team, .user], since: since, until: nil, team: nil, caller: s.principal)
        let budgets = Dictionary((byTeam.budgets ?? []).map { ($0.team, $0) }, uniquingKeysWith: { a, _ in a })
        // One scale for every bar: the largest of what was spent, forecast and budgeted.
        let scale = max(1e-9, (byTeam.items.map(\.cost) + budgets.values.flatMap { [$0.monthly ?? 0, $0.forecast] }).max() ?? 0)
        var teams: [CostsPage.Bar] = []
        for line in byTeam.items.sorted(by: { $0.cost > $1.cost }) {
            let team = line.keys["team"] ?? ""
            teams.append(CostsPage.Bar(label: team, cost: line.cost, gpuHours: line.gpuHours, budget: budgets[team], scale: scale))
        }
        for (team, b) in budgets.sorted(by: { $0.key < $1.key }) where !teams.contains(where: { $0.label == team }) {
            teams.append(CostsPage.Bar(label: team, cost: 0, gpuHours: 0, budget: b, scale: scale))
        }
        let users = byUser.items.sorted { $0.cost > $1.cost }.prefix(50).map { l in
            CostsPage.UserLine(team: l.keys["team"] ?? "", user: l.keys["user"] ?? "", cost: PortalFormat.money(l.cost),
                               gpuHours: String(format: "%.2f", l.gpuHours), cpuHours: String(format: "%.2f", l.cpuHours), workloads: l.workloads)
        }
        let page = CostsPage(frame: Frame(title: "Costs", current: "/portal/costs", signed: s), since: since, total: PortalFormat.money(byTeam.total.cost),
                             gpuHours: String(format: "%.2f", byTeam.total.gpuHours), teams: teams, chartHeight: teams.count * 28 + 8,
                             users: Array(users), empty: teams.isEmpty)
        return Self.html(PortalTemplates.render("costs", page))
    }

    static func isDay(_ s: String) -> Bool {
        let parts = s.split(separator: "-")
        return parts.count == 3 && parts[0].count == 4 && parts[1].count == 2 && parts[2].count == 2 && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
    }
}

struct CostsPage {
    /// One team's row of the chart: spend (and forecast) against its budget, in SVG units of 0...300.
    struct Bar {
        var label, cost, gpuHours, budgetText, state: String
        var y, textY, spentWidth, forecastWidth: Int
        var budgetX: Int?
        var index: Int = 0

        init(label: String, cost: Double, gpuHours: Double, budget: BudgetView?, scale: Double) {
            self.label = label
            self.cost = PortalFormat.money(cost)
            self.gpuHours = String(format: "%.2f", gpuHours)
            spentWidth = Int((cost / scale * 300).rounded())
            forecastWidth = Int(((budget?.forecast ?? cost) / scale * 300).rounded())
            budgetX = budget?.monthly.map { Int(($0 / scale * 300).rounded()) }
            budgetText = budget.map { b in
                (b.monthly.map { "budget \(PortalFormat.money($0)) for \(b.month), forecast \(PortalFormat.money(b.forecast))" } ?? "")
                    + (b.gpuHoursLimit.map { "\(b.monthly == nil ? "" : "; ")GPU-hours limit \(String(format: "%g", $0))" } ?? "")
            } ?? "no budget"
            state = budget?.state ?? ""
            y = 0
            textY = 0
        }
    }

    struct UserLine {
        var team, user, cost, gpuHours, cpuHours: String
        var workloads: Int
    }

    var frame: Frame
    var since, total, gpuHours: String
    var teams: [Bar]
    var chartHeight: Int
    var users: [UserLine]
    var empty: Bool

    init(frame: Frame, since: String, total: String, gpuHours: String, teams: [Bar], chartHeight: Int, users: [UserLine], empty: Bool) {
        self.frame = frame
        self.since = since
        self.total = total
        self.gpuHours = gpuHours
        self.teams = teams.enumerated().map { i, b in
            var b = b
            b.index = i
            b.y = i * 28 + 4
            b.textY = i * 28 + 18
            return b
        }
        self.chartHeight = chartHeight
        self.users = users
        self.empty = empty
    }

    static let template = """
    {{>header}}
    <form method="get" action="/portal/costs" class="filters"><div class="field"><label for="since">Since (day)</label><input id="since" name="since" value="{{since}}" inputmode="numeric" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"></div><button type="submit">Show</button></form>
    <p>Since {{since}}: <strong id="total-cost">{{total}}</strong> in all, {{gpuHours}} GPU-hours, at the contract's rates.</p>
    <h2>By team, against budgets</h2>
    {{^empty}}
    <svg id="cost-chart" role="img" aria-labelledby="chart-desc" viewBox="0 0 460 {{chartHeight}}" width="100%" preserveAspectRatio="xMinYMin meet">
    <desc id="chart-desc">Spend by team (solid), its month's forecast (light) and its budget (line)</desc>
    {{#teams}}<g><text x="0" y="{{textY}}" font-size="12" fill="#1b1f24">{{label}}</text>
    <rect x="110" y="{{y}}" width="{{forecastWidth}}" height="18" fill="#cfe0fb"/><rect x="110" y="{{y}}" width="{{spentWidth}}" height="18" fill="#0a5bd3"/>
    {{#budgetX}}<rect x="{{budgetX}}" y="{{y}}" width="2" height="22" fill="#c21f2d" transform="translate(110,-2)"/>{{/budgetX}}</g>
    {{/teams}}
    </svg>
    {{/empty}}
    <div class="scroll"><table id="team-costs"><thead><tr><th scope="col">Team</th><th scope="col">Spent</th><th scope="col">GPU-hours</th><th scope="col">Budget</th><th scope="col">State</th></tr></thead>
    <tbody>{{#teams}}<tr><td>{{label}}</td><td>{{cost}}</td><td>{{gpuHours}}</td><td>{{budgetText}}</td><td>{{state}}</td></tr>{{/teams}}
    {{#empty}}<tr><td colspan="5" class="muted">Nothing metered since {{since}}.</td></tr>{{/empty}}</tbody></table></div>
    <h2>By user</h2>
    <div class="scroll"><table id="user-costs"><thead><tr><th scope="col">Team</th><th scope="col">User</th><th scope="col">Spent</th><th scope="col">GPU-hours</th><th scope="col" class="hide-narrow">CPU-hours</th><th scope="col" class="hide-narrow">Workloads</th></tr></thead>
    <tbody>{{#users}}<tr><td>{{team}}</td><td>{{user}}</td><td>{{cost}}</td><td>{{gpuHours}}</td><td class="hide-narrow">{{cpuHours}}</td><td class="hide-narrow">{{workloads}}</td></tr>{{/users}}</tbody></table></div>
    {{>footer}}
    """
}
