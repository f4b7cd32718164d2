import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// My workloads: what the caller may see (`GET /v1/workloads`), newest first, filtered and paged; rows change as the
/// transitions arrive (server-sent events) and new ones appear, without a reload.
extension Portal {
    static var pageSize: Int { 50 }

    func workloads(_ request: Request, _ s: SignedIn) async throws -> Response {
        let q = request.uri.queryParameters
        func param(_ k: String) -> String? { q.get(k).flatMap { $0.isEmpty ? nil : $0 } }
        var state: WorkloadState?
        if let v = param("state") {
            guard let st = WorkloadState(rawValue: v) else {
                throw PortalError(status: .badRequest, message: "unknown state '\(v)'; use one of \(WorkloadState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = st
        }
        let page = max(1, Int(param("page") ?? "1") ?? 1)
        let (items, total) = await deps.controlPlane.listPage(WorkloadFilter(team: param("team"), kind: param("kind"), state: state), by: s.principal,
                                                             offset: (page - 1) * Self.pageSize, limit: Self.pageSize)
        let start = min(total, (page - 1) * Self.pageSize)
        let rows = items.map { WorkloadsPage.Row(WorkloadView($0)) }
        func link(_ p: Int) -> String {
            var parts = ["page=\(p)"]
            for k in ["state", "team", "kind"] { if let v = param(k) { parts.append("\(k)=\(Self.query(v))") } }
            return "/portal/workloads?" + parts.joined(separator: "&")
        }
        let platform = deps.controlPlane.contract.platform
        let teams = s.principal.team.map { [$0] } ?? platform.teams.keys.sorted()
        let view = WorkloadsPage(
            frame: Frame(title: "My workloads", current: "/portal/workloads", signed: s), rows: Array(rows), empty: rows.isEmpty,
            states: [Option(value: "", selected: state == nil, label: "any")] + WorkloadState.allCases.map { Option(value: $0.rawValue, selected: $0 == state) },
            teams: [Option(value: "", selected: param("team") == nil, label: "any")] + teams.map { Option(value: $0, selected: $0 == param("team")) },
            kinds: [Option(value: "", selected: param("kind") == nil, label: "any")] + ["TrainingJob", "BatchJob", "InferenceService", "Agent"].map { Option(value: $0, selected: $0 == param("kind")) },
            filterState: state?.rawValue ?? "", filterTeam: param("team") ?? "", filterKind: param("kind") ?? "",
            insert: page == 1 ? "yes" : "no", total: total, from: total == 0 ? 0 : start + 1, to: start + rows.count,
            previous: page > 1 ? link(page - 1) : nil, next: start + rows.count < total ? link(page + 1) : nil,
            submitted: q.get("cancelled") != nil ? "Cancel requested." : nil)
        return Self.html(PortalTemplates.render("workloads", view))
    }
}

struct WorkloadsPage {
    struct Row {
        var id, name, team, kind, size, state, submitted: String
        var attempt: Int
        init(_ w: WorkloadView) {
            (id, name, team, kind, size, state, attempt) = (w.id, w.name, w.team, w.kind, w.size, w.state, w.attempt)
            submitted = PortalFormat.time(w.createdAt)
        }
    }

    var frame: Frame
    var rows: [Row]
    var empty: Bool
    var states, teams, kinds: [Option]
    var filterState, filterTeam, filterKind, insert: String
    var total, from, to: Int
    var previous, next: String?
    var submitted: String?

    static let template = """
    {{>header}}
    {{#submitted}}<p class="notice" role="status">{{submitted}}</p>{{/submitted}}
    <form method="get" action="/portal/workloads" class="filters" aria-label="Filters">
    <div class="field"><label for="state-filter">State</label><select id="state-filter" name="state">{{#states}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/states}}</select></div>
    <div class="field"><label for="team-filter">Team</label><select id="team-filter" name="team">{{#teams}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/teams}}</select></div>
    <div class="field"><label for="kind-filter">Kind</label><select id="kind-filter" name="kind">{{#kinds}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/kinds}}</select></div>
    <button type="submit">Filter</button>
    <a class="button" href="/portal/new">New workload</a>
    </form>
    <div class="scroll">
    <table id="workloads" data-live data-insert="{{insert}}" data-state="{{filterState}}" data-team="{{filterTeam}}" data-kind="{{filterKind}}">
    <caption class="muted">{{from}}–{{to}} of {{total}}, newest first; states change here as they happen</caption>
    <thead><tr><th scope="col">Name</th><th scope="col">Team</th><th scope="col" class="hide-narrow">Kind</th><th scope="col" class="hide-narrow">Size</th><th scope="col">State</th><th scope="col" class="hide-narrow">Attempt</th><th scope="col" class="hide-narrow">Submitted</th></tr></thead>
    <tbody>
    {{#rows}}<tr data-id="{{id}}"><td><a href="/portal/workloads/{{id}}">{{name}}</a></td><td>{{team}}</td><td class="hide-narrow">{{kind}}</td><td class="hide-narrow">{{size}}</td><td class="state state-{{state}}">{{state}}</td><td class="attempt hide-narrow">{{attempt}}</td><td class="hide-narrow">{{submitted}}</td></tr>
    {{/rows}}
    {{#empty}}<tr id="empty"><td colspan="7" class="muted">No workloads yet. <a href="/portal/new">Submit one</a>.</td></tr>{{/empty}}
    </tbody>
    </table>
    </div>
    <nav class="pager" aria-label="Pages">{{#previous}}<a href="{{previous}}">← Newer</a>{{/previous}}{{#next}}<a href="{{next}}">Older →</a>{{/next}}</nav>
    {{>footer}}
    """
}

enum PortalFormat {
    static func time(_ d: Date?) -> String {
        guard let d else { return "" }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return f.string(from: d) + " UTC"
    }

    /// Two decimals; more below 1, so that small spend (seconds of a CPU) does not read as nothing.
    static func money(_ v: Double) -> String {
        String(format: v == 0 || abs(v) >= 1 ? "%.2f" : abs(v) >= 0.01 ? "%.4f" : "%.6f", v)
    }
}
