import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Rollouts: each rollout the caller may see with its phase, live weights and what its analysis said
/// (`GET /v1/rollouts`); promote, abort and roll back (`POST /v1/rollouts/{service}/…`), through the runner's own rules,
/// as `tarmac rollout` and `tarmac rollback` do. The page refreshes itself while a rollout moves.
extension Portal {
    var runner: RolloutRunner {
        get throws {
            guard let r = deps.rollouts else {
                throw PortalError(status: .notFound, message: "this server runs no inference gateway, which rollouts move traffic in (tarmac up --inference-port PORT)")
            }
            return r
        }
    }

    func rollouts(_ request: Request, _ s: SignedIn, notice: String? = nil, failed: Bool = false, status: HTTPResponse.Status = .ok) async throws -> Response {
        let r = try runner
        var items: [RolloutsPage.Item] = []
        for a in await r.list(by: s.principal) {
            let v = await r.view(a)
            let q = "?team=\(Self.query(v.team))"
            items.append(.init(team: v.team, service: v.service, env: v.env, strategy: v.strategy, from: v.from, to: v.to, phase: v.phase, message: v.message,
                               steps: v.steps.joined(separator: " → "),
                               weights: v.weights.sorted { $0.key < $1.key }.map { .init(version: $0.key, percent: $0.value) },
                               started: "\(PortalFormat.time(v.startedAt)) by \(v.startedBy)",
                               actions: s.principal.canChange(team: v.team) ? ["promote", "abort", "rollback"].map { act in
                                   .init(label: act == "rollback" ? "Roll back" : act.capitalized, href: "/portal/rollouts/\(Self.query(v.service))/\(act)\(q)",
                                         danger: act != "promote")
                               } : []))
        }
        let moving = items.contains { ["starting", "paused", "analyzing"].contains($0.phase) }
        let page = RolloutsPage(frame: Frame(title: "Rollouts", current: "/portal/rollouts", signed: s), rollouts: items, empty: items.isEmpty,
                                notice: notice, failed: failed, refresh: moving ? "5" : nil)
        return Self.html(PortalTemplates.render("rollouts", page), status: status)
    }

    func rolloutAction(_ request: Request, _ context: Context, _ s: SignedIn, _ form: [String: String]) async throws -> Response {
        let r = try runner
        let service = try context.parameters.require("service"), action = try context.parameters.require("action")
        let team = request.uri.queryParameters.get("team").flatMap { $0.isEmpty ? nil : $0 }
        do {
            let a: RolloutRunner.Active
            switch action {
            case "promote": a = try await r.promote(service: service, team: team, by: s.principal)
            case "abort": a = try await r.abort(service: service, team: team, by: s.principal)
            case "rollback": a = try await r.rollback(service: service, team: team, by: s.principal)
            default: throw PortalError(status: .notFound, message: "no rollout action '\(action)' (promote, abort, rollback)")
            }
            let v = await r.view(a)
            return try await rollouts(request, s, notice: "\(v.service): \(v.phase). \(v.message)")
        } catch let e as RuntimeError where e.code != .internalError {
            return try await rollouts(request, s, notice: e.message, failed: true, status: e.code == .forbidden ? .forbidden : .unprocessableContent)
        }
    }
}

struct RolloutsPage {
    struct Weight {
        var version: String
        var percent: Int
    }

    struct Action {
        var label, href: String
        var danger: Bool
    }

    struct Item {
        var team, service, env, strategy, from, to, phase, message, steps: String
        var weights: [Weight]
        var started: String
        var actions: [Action]
    }

    var frame: Frame
    var rollouts: [Item]
    var empty: Bool
    var notice: String?
    var failed: Bool
    /// Seconds between refreshes while a rollout moves (nil: still).
    var refresh: String?

    static let template = """
    {{>header}}
    {{#notice}}<p class="notice{{#failed}} bad{{/failed}}" role="status" id="rollout-notice">{{notice}}</p>{{/notice}}
    <div id="rollouts"{{#refresh}} data-refresh="{{refresh}}"{{/refresh}}>
    {{#rollouts}}
    <section class="card" data-service="{{service}}">
    <h2>{{team}}/{{service}} <span class="muted">· {{env}} · {{strategy}}</span></h2>
    <p><span class="state">{{phase}}</span> {{from}} → {{to}}: {{message}}</p>
    <p class="muted">Steps: {{steps}} · started {{started}}</p>
    <table><thead><tr><th scope="col">Version</th><th scope="col">Traffic</th><th scope="col">Share</th></tr></thead>
    <tbody>{{#weights}}<tr><td>{{version}}</td><td><svg class="bar" role="img" aria-label="{{version}}: {{percent}} percent of requests" viewBox="0 0 100 10" preserveAspectRatio="none" width="160" height="14"><rect width="100" height="10" fill="#f6f8fa"/><rect width="{{percent}}" height="10" fill="#0a5bd3"/></svg></td><td>{{percent}}%</td></tr>{{/weights}}</tbody></table>
    {{#actions}}<form method="post" action="{{href}}" class="inline">{{#frame}}<input type="hidden" name="csrf" value="{{csrf}}">{{/frame}}<button type="submit"{{#danger}} class="danger"{{/danger}}>{{label}}</button></form> {{/actions}}
    </section>
    {{/rollouts}}
    {{#empty}}<p class="muted">No rollouts. A rollout starts with <code>tarmac rollout start</code>, or by submitting a new model version of a running service with spec.rollout.</p>{{/empty}}
    </div>
    {{>footer}}
    """
}
