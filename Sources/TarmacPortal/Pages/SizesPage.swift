import Foundation
import Hummingbird
import TarmacAPI
import TarmacModel

/// Sizes: the catalogue per class as the caller's team and an environment resolve it (`GET /v1/sizes`).
extension Portal {
    func sizes(_ request: Request, _ s: SignedIn) async throws -> Response {
        let q = request.uri.queryParameters
        let platform = deps.controlPlane.contract.platform
        let env = q.get("env").flatMap { $0.isEmpty ? nil : $0 }
        let team = q.get("team").flatMap { $0.isEmpty ? nil : $0 } ?? s.principal.team ?? platform.teams.keys.sorted().first
        if let env, platform.environments[env] == nil { throw PortalError(status: .badRequest, message: "unknown environment '\(env)'") }
        if let team, platform.teams[team] == nil { throw PortalError(status: .badRequest, message: "unknown team '\(team)'") }
        if let team, !s.principal.canRead(team: team) { throw PortalError(status: .forbidden, message: "\(s.principal.name) cannot look at team \(team)'s sizes") }
        let items = await deps.controlPlane.sizes(team: team, env: env)
        var classes: [SizesPage.Group] = []
        for cls in WorkloadClass.allCases {
            let rows = items.filter { $0.workloadClass == cls.rawValue }
            guard !rows.isEmpty else { continue }
            classes.append(.init(name: cls.rawValue, sizes: rows.map(SizesPage.Row.init)))
        }
        let teams = s.principal.team.map { [$0] } ?? platform.teams.keys.sorted()
        let envs = platform.environments.keys.sorted()
        let page = SizesPage(frame: Frame(title: "Sizes", current: "/portal/sizes", signed: s), classes: classes,
                             teams: teams.map { .init(value: $0, selected: $0 == team) },
                             envs: [.init(value: "", selected: env == nil)] + envs.map { .init(value: $0, selected: $0 == env) },
                             team: team ?? "", env: env ?? "the base contract")
        return Self.html(PortalTemplates.render("sizes", page))
    }
}

/// One choice of a select (Mustache reads stored properties only, so the label is one).
struct Option {
    var value: String
    var selected: Bool
    var label: String
    init(value: String, selected: Bool, label: String? = nil) {
        self.value = value
        self.selected = selected
        self.label = label ?? (value.isEmpty ? "(base contract)" : value)
    }
}

struct SizesPage {
    struct Row {
        var name, resources, pools, cost: String
        var description: String?
        var starts: Bool
        var why: String
        init(_ s: SizeView) {
            name = s.name
            let cores = Double((try? CPUQuantity.parse(s.cpu).get())?.millis ?? 0) / 1000
            let memory = (try? ByteQuantity.parse(s.memory).get())?.readable ?? s.memory
            let cpu = "\(String(format: "%g", cores)) CPU\(cores == 1 ? "" : "s")"
            if let a = s.accelerator, let g = Double(s.gpus), g > 0 {
                resources = "\(s.gpus) \(a) GPU\(g == 1 ? "" : "s"), \(cpu), \(memory)"
            } else {
                resources = "\(cpu), \(memory), no GPU"
            }
            pools = (s.pools ?? []).joined(separator: ", ")
            cost = s.hourlyCost.map { String(format: "%.2f", $0) } ?? "–"
            description = s.description.flatMap { $0.isEmpty ? nil : $0 }
            starts = s.startsHere ?? false
            why = (s.why ?? "").replacingOccurrences(of: "cannot start here: ", with: "")
        }
    }

    struct Group {
        var name: String
        var sizes: [Row]
    }

    var frame: Frame
    var classes: [Group]
    var teams: [Option]
    var envs: [Option]
    var team: String
    var env: String

    static let template = """
    {{>header}}
    <form method="get" action="/portal/sizes" class="filters">
    <div class="field"><label for="team">Team</label><select id="team" name="team">{{#teams}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/teams}}</select></div>
    <div class="field"><label for="env">Environment</label><select id="env" name="env">{{#envs}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/envs}}</select></div>
    <button type="submit">Show</button>
    </form>
    <p class="muted">What each size means for team {{team}} in {{env}}: one pod's resources, the pools that host it, what one pod costs an hour at the contract's rates, and whether it can start here.</p>
    {{#classes}}
    <h2 id="class-{{name}}">{{name}}</h2>
    <div class="scroll"><table>
    <thead><tr><th scope="col">Size</th><th scope="col">One pod</th><th scope="col">Pools</th><th scope="col">Per hour</th><th scope="col">Here</th></tr></thead>
    <tbody>
    {{#sizes}}<tr data-size="{{name}}"><th scope="row">{{name}}{{#description}}<div class="hint">{{description}}</div>{{/description}}</th><td>{{resources}}</td><td>{{pools}}</td><td>{{cost}}</td><td>{{#starts}}<span class="fitsNow">starts</span>{{/starts}}{{^starts}}<span class="neverFits">no</span> <span class="hint">{{why}}</span>{{/starts}}</td></tr>
    {{/sizes}}
    </tbody></table></div>
    {{/classes}}
    {{>footer}}
    """
}
