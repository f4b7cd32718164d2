import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacModel
import TarmacRuntime

/// New workload: a form that makes a workload document, checked as it is typed with the same check as
/// `POST /v1/workloads/check` (validation, this control plane's refusals, feasibility and the estimated start), then
/// submitted as `POST /v1/workloads` submits it. Without JavaScript, "Check" posts the form and the page comes back
/// with the same answers.
extension Portal {
    func check(_ s: SignedIn, _ form: WorkloadForm) async throws -> (SubmitCheckView, String, [Int: String]) {
        let (yaml, lines) = form.document()
        var c = try await deps.controlPlane.check(text: yaml, by: s.principal, runsImages: deps.runsImages, workdir: form.workdirDigest)
        if let missing = missingWorkdir(form, lines: lines) {
            c.valid = false
            c.diagnostics.insert(missing, at: 0)
        }
        return (c, yaml, lines)
    }

    /// A chosen folder this server does not have (any more): choose it again.
    func missingWorkdir(_ form: WorkloadForm, lines: [Int: String]) -> DiagnosticPayload? {
        guard let digest = form.workdirDigest, deps.workdirs?.has(digest) != true else { return nil }
        let line = lines.first { $0.value == "workdir" }?.key ?? 0
        let message = deps.workdirs == nil ? "this server takes no working directories: build the code into the image"
            : "the uploaded folder (\(digest.prefix(19))…) is not on this server: choose it again"
        return DiagnosticPayload(severity: "error", file: "request", line: line, column: 3, message: message, rule: "workdir", help: nil, text: "error: " + message)
    }

    func checkJSON(_ request: Request, _ s: SignedIn, _ values: [String: String]) async throws -> Response {
        let (c, yaml, lines) = try await check(s, WorkloadForm(values))
        let by = WorkloadForm.byField(c.diagnostics, lineField: lines)
        return Self.json(NewWorkloadPage.CheckAnswer(yaml: yaml, fields: by.filter { !$0.key.isEmpty }, general: by[""] ?? [],
                                                     verdict: c.feasibility?.verdict, feasibility: c.feasibility?.message,
                                                     estimate: c.feasibility?.estimatedStart.map(NewWorkloadPage.estimateText)))
    }

    func submit(_ request: Request, _ s: SignedIn, _ values: [String: String]) async throws -> Response {
        let form = WorkloadForm(values)
        if values["action"] == "check" {
            let c = try await check(s, form)
            return newPage(s, form: form, check: c)
        }
        let (yaml, lines) = form.document()
        let requestID = form.values["requestId"].flatMap { $0.isEmpty || $0.count > 200 ? nil : "portal-" + $0 }
        if let missing = missingWorkdir(form, lines: lines) {
            return newPage(s, form: form, check: (SubmitCheckView(valid: false, diagnostics: [missing]), yaml, lines), status: .unprocessableContent)
        }
        do {
            let r = try await deps.controlPlane.submit(text: yaml, requestID: requestID, by: s.principal, runsImages: deps.runsImages, workdir: form.workdirDigest)
            return Self.redirect("/portal/workloads/\(Self.query(r.workload.id))?submitted=1")
        } catch let e as RuntimeError where e.code == .invalid || e.code == .conflict {
            var diagnostics = e.diagnostics
            if diagnostics.isEmpty {
                diagnostics = [DiagnosticPayload(severity: "error", file: "request", line: 0, column: 0, message: e.message, rule: nil, help: nil, text: "error: " + e.message)]
            }
            return newPage(s, form: form, check: (SubmitCheckView(valid: false, diagnostics: diagnostics), yaml, lines), status: .unprocessableContent)
        }
    }

    func newPage(_ s: SignedIn, form: WorkloadForm, check: (SubmitCheckView, String, [Int: String])?, status: HTTPResponse.Status = .ok) -> Response {
        let contract = deps.controlPlane.contract
        let p = contract.platform
        let teams = s.principal.team.map { [$0] } ?? p.teams.keys.sorted()
        let team = form["team"].isEmpty ? (teams.first ?? "") : form["team"]
        let env = form["env"]
        let kind = form["kind"].isEmpty ? "TrainingJob" : form["kind"]
        let cls: WorkloadClass = kind == "BatchJob" ? .batch : .training
        let sizes = (p.teams[team] == nil ? p : contract.resolve(env: p.environments[env] == nil ? nil : env, team: team).platform).sizes[cls]?.values
            .sorted { ($0.gpus.thousandths, $0.cpu.millis, $0.name) < ($1.gpus.thousandths, $1.cpu.millis, $1.name) }.map(\.name) ?? []
        let (yaml, lines) = check.map { ($0.1, $0.2) } ?? form.document()
        let by = check.map { WorkloadForm.byField($0.0.diagnostics, lineField: lines) } ?? [:]
        func field(_ name: String, _ label: String, hint: String = "", type: String = "text") -> NewWorkloadPage.Field {
            let problems = by[name] ?? []
            return .init(name: name, label: label, value: form.values[name] ?? "", hint: hint, type: type,
                         problem: problems.map(\.text).joined(separator: "\n"), severity: problems.first?.severity ?? "")
        }
        let page = NewWorkloadPage(
            frame: Frame(title: "New workload", current: "/portal/new", signed: s),
            kinds: WorkloadForm.kinds.map { Option(value: $0, selected: $0 == kind) },
            teams: teams.map { Option(value: $0, selected: $0 == team) },
            envs: p.environments.keys.sorted().map { Option(value: $0, selected: $0 == env) },
            sizes: (sizes.contains(form["size"]) || form["size"].isEmpty ? sizes : [form["size"]] + sizes).map { Option(value: $0, selected: $0 == form["size"]) },
            name: field("name", "Name", hint: "Lowercase letters, digits and '-'"),
            owner: field("owner", "Owner", hint: "The person responsible (some environments require one)", type: "email"),
            image: field("image", "Image", hint: "From a registry the environment allows, e.g. registry.acme.example/train:1.0"),
            command: field("command", "Command", hint: deps.runsImages ? "Optional: the image's entrypoint runs without one" : "Required here (local processes), e.g. python3 train.py"),
            workers: field("workers", "Workers", hint: "Training: pods that start together", type: "number"),
            tasks: field("tasks", "Tasks", hint: "Batch: how many tasks", type: "number"),
            parallelism: field("parallelism", "Parallelism", hint: "Batch: tasks at once", type: "number"),
            envVars: field("env-vars", "Environment variables", hint: "One KEY=VALUE per line"),
            maxDuration: field("maxDuration", "Maximum duration", hint: "e.g. 30m, 2h: it is stopped after this (and the estimate counts on it)"),
            workdir: form.values["workdir"] ?? "", workdirName: form.values["workdir-name"] ?? "",
            workdirStatus: form.workdirDigest.map { "uploaded: \($0.prefix(19))…" } ?? "", workdirProblem: (by["workdir"] ?? []).map(\.text).joined(separator: "\n"),
            takesWorkdir: deps.workdirs != nil,
            kindProblem: (by["kind"] ?? []).map(\.text).joined(separator: "\n"), teamProblem: ((by["team"] ?? []) + (by["env"] ?? [])).map(\.text).joined(separator: "\n"),
            sizeProblem: (by["size"] ?? []).map(\.text).joined(separator: "\n"),
            general: (by[""] ?? []).map(\.text).joined(separator: "\n"),
            requestId: form.values["requestId"] ?? UUID().uuidString.lowercased(),
            yaml: yaml, verdict: check?.0.feasibility?.verdict ?? "", feasibility: check?.0.feasibility?.message ?? "",
            estimate: check?.0.feasibility?.estimatedStart.map(NewWorkloadPage.estimateText) ?? "",
            isTraining: kind == "TrainingJob", isBatch: kind == "BatchJob")
        return Self.html(PortalTemplates.render("new", page), status: status)
    }
}

struct NewWorkloadPage {
    struct Field {
        var name, label, value, hint, type, problem, severity: String
    }

    struct CheckAnswer: Encodable {
        var yaml: String
        var fields: [String: [DiagnosticPayload]]
        var general: [DiagnosticPayload]
        var verdict: String?
        var feasibility: String?
        var estimate: String?
    }

    static func estimateText(_ e: StartEstimateView) -> String {
        e.message + (e.assumptions.isEmpty ? "" : " (assuming " + e.assumptions.joined(separator: "; ") + ")")
    }

    var frame: Frame
    var kinds, teams, envs, sizes: [Option]
    var name, owner, image, command, workers, tasks, parallelism, envVars, maxDuration: Field
    var workdir, workdirName, workdirStatus, workdirProblem: String
    var takesWorkdir: Bool
    var kindProblem, teamProblem, sizeProblem, general: String
    var requestId: String
    var yaml, verdict, feasibility, estimate: String
    var isTraining, isBatch: Bool

    static let template = """
    {{>header}}
    <div class="cols">
    <form method="post" action="/portal/new" id="new-workload" novalidate>
    <input type="hidden" name="csrf" value="{{#frame}}{{csrf}}{{/frame}}">
    <input type="hidden" name="requestId" value="{{requestId}}">
    <div class="field"><label for="f-kind">Kind</label><select id="f-kind" name="kind">{{#kinds}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/kinds}}</select>
    <p class="problem" data-field="kind" aria-live="polite">{{kindProblem}}</p></div>
    {{#name}}{{>formfield}}{{/name}}
    <div class="field"><label for="f-team">Team</label><select id="f-team" name="team">{{#teams}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/teams}}</select>
    <p class="problem" data-field="team" aria-live="polite">{{teamProblem}}</p></div>
    <div class="field"><label for="f-env">Environment</label><select id="f-env" name="env">{{#envs}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/envs}}</select>
    <p class="problem" data-field="env" aria-live="polite"></p></div>
    <div class="field"><label for="f-size">Size</label><select id="f-size" name="size">{{#sizes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/sizes}}</select>
    <p class="hint"><a href="/portal/sizes">What each size means</a></p>
    <p class="problem" data-field="size" aria-live="polite">{{sizeProblem}}</p></div>
    {{#image}}{{>formfield}}{{/image}}
    {{#command}}{{>formfield}}{{/command}}
    {{#isTraining}}{{#workers}}{{>formfield}}{{/workers}}{{/isTraining}}
    {{#isBatch}}{{#tasks}}{{>formfield}}{{/tasks}}{{#parallelism}}{{>formfield}}{{/parallelism}}{{/isBatch}}
    {{#envVars}}<div class="field"><label for="f-{{name}}">{{label}}</label><textarea id="f-{{name}}" name="{{name}}" aria-describedby="h-{{name}}">{{value}}</textarea><p class="hint" id="h-{{name}}">{{hint}}</p><p class="problem {{severity}}" data-field="{{name}}" aria-live="polite">{{problem}}</p></div>{{/envVars}}
    {{#owner}}{{>formfield}}{{/owner}}
    {{#maxDuration}}{{>formfield}}{{/maxDuration}}
    {{#takesWorkdir}}<div class="field"><label for="f-workdir-files">Working directory</label><input id="f-workdir-files" type="file" webkitdirectory multiple aria-describedby="h-workdir workdir-status">
    <input type="hidden" name="workdir" id="f-workdir" value="{{workdir}}"><input type="hidden" name="workdir-name" id="f-workdir-name" value="{{workdirName}}">
    <p class="hint" id="h-workdir">A folder of your code: packed in the browser and uploaded; every pod starts in a copy of it (as <code>tarmac submit --workdir</code>). Needs JavaScript.</p>
    <p class="hint" id="workdir-status" aria-live="polite">{{workdirStatus}}</p><p class="problem" data-field="workdir" aria-live="polite">{{workdirProblem}}</p></div>{{/takesWorkdir}}
    <p class="problem" id="general" aria-live="polite">{{general}}</p>
    <button type="submit" name="action" value="check">Check</button>
    <button type="submit" name="action" value="submit" class="primary">Submit</button>
    </form>
    <section aria-labelledby="check-title">
    <h2 id="check-title">Before you submit</h2>
    <p id="feasibility" class="notice {{verdict}}" role="status" aria-live="polite">{{feasibility}}</p>
    <p id="estimate" class="hint" aria-live="polite">{{estimate}}</p>
    <h2>Document</h2>
    <pre id="preview" aria-label="The workload document this form makes">{{yaml}}</pre>
    </section>
    </div>
    {{>footer}}
    """

    static let fieldTemplate = """
    <div class="field"><label for="f-{{name}}">{{label}}</label><input id="f-{{name}}" name="{{name}}" type="{{type}}" value="{{value}}" aria-describedby="h-{{name}}"><p class="hint" id="h-{{name}}">{{hint}}</p><p class="problem {{severity}}" data-field="{{name}}" aria-live="polite">{{problem}}</p></div>
    """
}
