import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Queue: each team's quota as bars (nominal, in use, borrowed, lent) and the waiting list in the scheduler's order
/// with why each waits (`GET /v1/queue`).
extension Portal {
    func queue(_ s: SignedIn) async throws -> Response {
        let cp = deps.controlPlane
        let items = await cp.queue(by: s.principal)
        let quotas = await cp.quotaStatus(by: s.principal)
        let page = QueuePage(
            frame: Frame(title: "Queue", current: "/portal/queue", signed: s),
            teams: quotas.map(QueuePage.Team.init),
            more: items.count > QueuePage.shown ? items.count - QueuePage.shown : nil,
            waiting: items.prefix(QueuePage.shown).enumerated().map { i, p in
                .init(position: i + 1, id: p.0.id, name: p.0.name, team: p.0.team, size: p.0.size, priority: p.0.priority, reason: p.1.reason, message: p.1.message)
            })
        return Self.html(PortalTemplates.render("queue", page))
    }
}

struct QueuePage {
    struct Bar {
        var resource, label: String
        /// Widths in percent of the larger of nominal and in use.
        var usedWidth, borrowedWidth: Int
        var nominal, used, borrowed, lent: String
        init(_ l: TeamQuotaView.Line) {
            let scale = max(l.nominal, l.used, 1e-9)
            resource = l.resource
            let own = min(l.used, l.nominal)
            usedWidth = Int((own / scale * 100).rounded())
            borrowedWidth = Int((l.borrowed / scale * 100).rounded())
            func n(_ v: Double) -> String { String(format: "%g", (v * 100).rounded() / 100) }
            (nominal, used, borrowed, lent) = (n(l.nominal), n(l.used), n(l.borrowed), n(l.lent))
            label = "\(resource): \(used) in use of \(nominal) nominal, \(borrowed) borrowed, \(lent) lent"
        }
    }

    struct Team {
        var team: String
        var cohort: String?
        var hold: String?
        var bars: [Bar]
        init(_ q: TeamQuotaView) {
            team = q.team
            cohort = q.cohort
            hold = q.hold
            bars = q.lines.map(Bar.init)
        }
    }

    struct Waiting {
        var position: Int
        var id, name, team, size: String
        var priority: Int
        var reason: String?
        var message: String
    }

    /// Waiting workloads listed (the rest are counted: `tarmac queue` lists them all).
    static let shown = 100

    var frame: Frame
    var teams: [Team]
    var more: Int?
    var waiting: [Waiting]

    static let template = """
    {{>header}}
    <h2>Quotas</h2>
    <p class="muted">Bars: in use within the nominal quota (blue) and borrowed beyond it (amber), against the nominal quota.</p>
    {{#teams}}
    <div class="card" data-team="{{team}}">
    <h3>{{team}}{{#cohort}} <span class="muted">· cohort {{cohort}}</span>{{/cohort}}</h3>
    {{#hold}}<p class="notice bad">{{hold}}</p>{{/hold}}
    <div class="scroll"><table>
    <thead><tr><th scope="col">Resource</th><th scope="col">Use</th><th scope="col">Nominal</th><th scope="col">In use</th><th scope="col">Borrowed</th><th scope="col">Lent</th></tr></thead>
    <tbody>
    {{#bars}}<tr><th scope="row">{{resource}}</th><td><svg class="bar" role="img" aria-label="{{label}}" viewBox="0 0 100 10" preserveAspectRatio="none" width="160" height="14"><rect width="100" height="10" fill="#f6f8fa"/><rect width="{{usedWidth}}" height="10" fill="#0a5bd3"/><rect x="{{usedWidth}}" width="{{borrowedWidth}}" height="10" fill="#9a6700"/></svg></td><td>{{nominal}}</td><td>{{used}}</td><td>{{borrowed}}</td><td>{{lent}}</td></tr>
    {{/bars}}
    </tbody></table></div>
    </div>
    {{/teams}}
    <h2>Waiting</h2>
    <div class="scroll"><table id="queue">
    <thead><tr><th scope="col">#</th><th scope="col">Name</th><th scope="col">Team</th><th scope="col" class="hide-narrow">Size</th><th scope="col" class="hide-narrow">Priority</th><th scope="col">Why</th></tr></thead>
    <tbody>
    {{#waiting}}<tr data-id="{{id}}"><td>{{position}}</td><td><a href="/portal/workloads/{{id}}">{{name}}</a></td><td>{{team}}</td><td class="hide-narrow">{{size}}</td><td class="hide-narrow">{{priority}}</td><td>{{#reason}}<strong>{{reason}}</strong>: {{/reason}}{{message}}</td></tr>
    {{/waiting}}
    {{^waiting}}<tr><td colspan="6" class="muted">Nothing waits.</td></tr>{{/waiting}}
    </tbody></table></div>
    {{#more}}<p class="muted">and {{more}} more behind them (<code>tarmac queue</code> lists every one).</p>{{/more}}
    {{>footer}}
    """
}
