import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Models: the registry's models (`GET /v1/models`), one model's versions and aliases (`GET /v1/models/{model}`), and
/// promotion to an environment through its gates (`POST /v1/models/{model}/promote`, dry run or for real): the same
/// registry functions, so the same gates as `tarmac model promote`.
extension Portal {
    var registry: ModelRegistry {
        get throws {
            guard let r = deps.models else { throw PortalError(status: .notFound, message: "this server keeps no model registry") }
            return r
        }
    }

    func models(_ request: Request, _ s: SignedIn) async throws -> Response {
        let items = try await registry.summaries(team: request.uri.queryParameters.get("team").flatMap { $0.isEmpty ? nil : $0 }, by: s.principal)
        let page = ModelsPage(frame: Frame(title: "Models", current: "/portal/models", signed: s), models: items.map { m in
            .init(team: m.team, name: m.name, versions: m.versions, latest: m.latest,
                  aliases: m.aliases.sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }.joined(separator: ", "),
                  href: "/portal/models/\(Self.query(m.name))?team=\(Self.query(m.team))")
        }, empty: items.isEmpty)
        return Self.html(PortalTemplates.render("models", page))
    }

    func model(_ request: Request, _ context: Context, _ s: SignedIn, promotion: ModelPage.Outcome?, status: HTTPResponse.Status = .ok,
               chosen: (version: String, env: String)? = nil) async throws -> Response {
        let name = try context.parameters.require("model")
        let team = request.uri.queryParameters.get("team").flatMap { $0.isEmpty ? nil : $0 }
        let m = try await registry.model(name, team: team, by: s.principal)
        let view = ModelView(versions: m.versions, aliases: m.aliases)
        let envs = deps.controlPlane.contract.platform.environments.keys.sorted()
        let latest = view.versions.last?.version ?? ""
        let page = ModelPage(
            frame: Frame(title: "Model \(view.team)/\(view.name)", current: "/portal/models", signed: s), team: view.team, name: view.name,
            versions: view.versions.reversed().map { v in
                .init(version: v.version, digest: v.digest, files: v.files, bytes: v.bytes, signed: v.signed, format: v.format ?? "", owner: v.owner ?? "",
                      aliases: v.aliases.joined(separator: ", "), registered: "\(PortalFormat.time(v.registeredAt)) by \(v.registeredBy)",
                      lineage: v.lineage.map { l in ["workload \(l.workload)", l.attempt.map { "attempt \($0)" }, l.checkpoint.map { "checkpoint \($0)" }]
                          .compactMap { $0 }.joined(separator: ", ") } ?? "")
            },
            aliases: view.aliases.map { .init(name: $0.name, version: $0.version, moved: "\(PortalFormat.time($0.movedAt)) by \($0.movedBy)") },
            versionOptions: view.versions.reversed().map { Option(value: $0.version, selected: $0.version == (chosen?.version ?? latest)) },
            envOptions: envs.map { Option(value: $0, selected: $0 == chosen?.env) },
            action: "/portal/models/\(Self.query(view.name))/promote?team=\(Self.query(view.team))",
            canPromote: s.principal.canChange(team: view.team), outcome: promotion)
        return Self.html(PortalTemplates.render("model", page), status: status)
    }

    func promote(_ request: Request, _ context: Context, _ s: SignedIn, _ form: [String: String]) async throws -> Response {
        let name = try context.parameters.require("model")
        let team = request.uri.queryParameters.get("team").flatMap { $0.isEmpty ? nil : $0 }
        let version = form["version"] ?? "", env = form["env"] ?? ""
        let dryRun = form["action"] != "promote"
        do {
            let p = try await registry.promote(name, PromotionRequestBody(team: team, version: version, env: env, dryRun: dryRun), by: s.principal).view
            let summary = p.promoted ? "Promoted \(p.model) \(p.version) to \(p.env): alias \(p.alias) moved from \(p.previous ?? "none")."
                : "Every gate passes: \(p.model) \(p.version) may be promoted to \(p.env) (a check; nothing changed)."
            return try await model(request, context, s, promotion: .init(ok: true, summary: summary, gates: p.gates.map { .init(gate: $0.gate, passed: $0.passed, message: $0.message) }),
                                   chosen: (version, env))
        } catch let e as RuntimeError where e.code == .invalid || e.code == .conflict || e.code == .forbidden || e.code == .notFound {
            let gates = e.diagnostics.map { ModelPage.Gate(gate: $0.rule ?? "gate", passed: $0.severity != "error", message: $0.message) }
            return try await model(request, context, s, promotion: .init(ok: false, summary: e.message, gates: gates),
                                   status: e.code == .forbidden ? .forbidden : .unprocessableContent, chosen: (version, env))
        }
    }
}

struct ModelsPage {
    struct Row {
        var team, name: String
        var versions: Int
        var latest, aliases, href: String
    }

    var frame: Frame
    var models: [Row]
    var empty: Bool

    static let template = """
    {{>header}}
    <div class="scroll"><table id="models">
    <thead><tr><th scope="col">Model</th><th scope="col">Team</th><th scope="col">Versions</th><th scope="col">Latest</th><th scope="col">Aliases</th></tr></thead>
    <tbody>
    {{#models}}<tr><td><a href="{{href}}">{{name}}</a></td><td>{{team}}</td><td>{{versions}}</td><td>{{latest}}</td><td>{{aliases}}</td></tr>
    {{/models}}
    {{#empty}}<tr><td colspan="5" class="muted">No models registered yet: <code>tarmac model register</code> adds one.</td></tr>{{/empty}}
    </tbody></table></div>
    {{>footer}}
    """
}

struct ModelPage {
    struct Version {
        var version, digest: String
        var files: Int
        var bytes: Int64
        var signed: Bool
        var format, owner, aliases, registered, lineage: String
    }

    struct Alias {
        var name, version, moved: String
    }

    struct Gate {
        var gate: String
        var passed: Bool
        var message: String
    }

    struct Outcome {
        var ok: Bool
        var summary: String
        var gates: [Gate]
    }

    var frame: Frame
    var team, name: String
    var versions: [Version]
    var aliases: [Alias]
    var versionOptions, envOptions: [Option]
    var action: String
    var canPromote: Bool
    var outcome: Outcome?

    static let template = """
    {{>header}}
    {{#outcome}}
    <section class="card" aria-labelledby="gates-title" id="promotion">
    <h2 id="gates-title">Gates</h2>
    <p class="notice{{^ok}} bad{{/ok}}" role="status">{{summary}}</p>
    <ul>{{#gates}}<li class="{{#passed}}fitsNow{{/passed}}{{^passed}}neverFits{{/passed}}"><strong>{{gate}}</strong> {{#passed}}passed{{/passed}}{{^passed}}failed{{/passed}}: {{message}}</li>{{/gates}}</ul>
    </section>
    {{/outcome}}
    {{#canPromote}}
    <form method="post" action="{{action}}" class="filters card" aria-label="Promote">
    {{#frame}}<input type="hidden" name="csrf" value="{{csrf}}">{{/frame}}
    <div class="field"><label for="p-version">Version</label><select id="p-version" name="version">{{#versionOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/versionOptions}}</select></div>
    <div class="field"><label for="p-env">Environment</label><select id="p-env" name="env">{{#envOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/envOptions}}</select></div>
    <button type="submit" name="action" value="check">Check the gates</button>
    <button type="submit" name="action" value="promote" class="primary">Promote</button>
    </form>
    {{/canPromote}}
    <h2>Aliases</h2>
    <div class="scroll"><table><thead><tr><th scope="col">Alias</th><th scope="col">Version</th><th scope="col">Moved</th></tr></thead>
    <tbody>{{#aliases}}<tr><td>{{name}}</td><td>{{version}}</td><td>{{moved}}</td></tr>{{/aliases}}{{^aliases}}<tr><td colspan="3" class="muted">None.</td></tr>{{/aliases}}</tbody></table></div>
    <h2>Versions</h2>
    <div class="scroll"><table id="versions"><thead><tr><th scope="col">Version</th><th scope="col">Aliases</th><th scope="col">Signed</th><th scope="col" class="hide-narrow">Files</th><th scope="col" class="hide-narrow">Digest</th><th scope="col">Lineage</th><th scope="col" class="hide-narrow">Registered</th></tr></thead>
    <tbody>{{#versions}}<tr><td>{{version}}</td><td>{{aliases}}</td><td>{{#signed}}yes{{/signed}}{{^signed}}no{{/signed}}</td><td class="hide-narrow">{{files}} ({{bytes}} bytes)</td><td class="hide-narrow"><code>{{digest}}</code></td><td>{{lineage}}</td><td class="hide-narrow">{{registered}}</td></tr>{{/versions}}</tbody></table></div>
    {{>footer}}
    """
}
