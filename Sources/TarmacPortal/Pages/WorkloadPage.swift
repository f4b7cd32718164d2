import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Workload: what `tarmac get` and `tarmac why` say of one workload (its state live), its history from the audit trail,
/// its checkpoint, cost so far, and its log streaming; cancel for whoever may change it.
extension Portal {
    /// The workload, or the refusal a page shows: a caller bound to a team is told 403 for anything outside what it may
    /// see, whether or not it exists (so another team's ids cannot be probed); others get 404 for what does not exist.
    func visible(_ ref: String, _ s: SignedIn) async throws -> WorkloadEntry {
        do {
            return try await deps.controlPlane.find(ref, by: s.principal)
        } catch let e as RuntimeError where e.code == .notFound && s.principal.team != nil {
            throw PortalError(status: .forbidden, message: "\(s.principal.name) (team \(s.principal.team ?? "")) may not see workload '\(ref)', or there is none by that name or id")
        }
    }

    func workload(_ request: Request, _ context: Context, _ s: SignedIn) async throws -> Response {
        let ref = try context.parameters.require("id")
        let e = try await visible(ref, s)
        let cp = deps.controlPlane
        var view = WorkloadView(e)
        view.cost = await cp.costSoFar(e)
        let why = try await cp.why(e.id, by: s.principal)
        let history = (try? await cp.store.auditRecords(AuditQuery(workload: e.id, limit: 500))) ?? []
        let position = await cp.queuePosition(e.id, by: s.principal)
        var facts: [WorkloadPage.Fact] = [
            .init("Kind", view.kind), .init("Team", view.team), .init("Environment", view.env), .init("Size", "\(view.size) × \(view.pods) pod\(view.pods == 1 ? "" : "s")"),
            .init("Owner", view.owner ?? "–"), .init("Submitted by", view.submittedBy), .init("Priority", String(view.priority)),
            .init("Attempt", "\(view.attempt) of \(view.maxAttempts)"), .init("Submitted", PortalFormat.time(view.createdAt)),
        ]
        if let t = view.admittedAt { facts.append(.init("Admitted", PortalFormat.time(t))) }
        if let t = view.startedAt { facts.append(.init("Started", PortalFormat.time(t))) }
        if let t = view.finishedAt { facts.append(.init("Finished", PortalFormat.time(t))) }
        if let position { facts.append(.init("Queue position", String(position))) }
        if !view.placements.isEmpty { facts.append(.init("Placed on", Set(view.placements.map(\.node)).sorted().joined(separator: ", "))) }
        facts.append(.init("GPU-seconds", String(format: "%.0f", view.gpuSeconds)))
        facts.append(.init("CPU-seconds", String(format: "%.0f", view.cpuSeconds)))
        facts.append(.init("Cost so far", PortalFormat.money(view.cost ?? 0)))
        if let c = view.lastCheckpoint {
            facts.append(.init("Last checkpoint", "\(PortalFormat.time(c.at)), attempt \(c.attempt)\(c.step.map { ", step \($0)" } ?? "")\(c.location.map { ", \($0)" } ?? "")"))
        }
        var whyFacts: [WorkloadPage.Fact] = []
        if let f = why.facts {
            if let r = f.resource { whyFacts.append(.init("Waits for", r)) }
            if let n = f.needed { whyFacts.append(.init("Needs", String(format: "%g", n))) }
            if let a = f.available { whyFacts.append(.init("Available", String(format: "%g", a))) }
            if let c = f.exitCode { whyFacts.append(.init("Exit code", String(c))) }
            if let m = f.peakMemoryBytes { whyFacts.append(.init("Peak memory", "\(m) bytes")) }
            if let m = f.memoryLimitBytes { whyFacts.append(.init("Memory limit", "\(m) bytes")) }
            if let r = f.ranSeconds { whyFacts.append(.init("Ran", "\(r) s")) }
            if let s = f.suggestedSize { whyFacts.append(.init("Suggested size", s)) }
        }
        let attempts = (1...max(1, view.attempt)).map { WorkloadPage.AttemptLink(number: $0, href: "/portal/workloads/\(Self.query(e.id))/logs?attempt=\($0)") }
        let page = WorkloadPage(
            frame: Frame(title: "\(view.kind) \(view.name)", current: nil, signed: s), id: view.id, name: view.name, state: view.state,
            message: view.message ?? "", why: why.message, whyReason: why.reason.flatMap { $0.isEmpty ? nil : $0 }, whyFacts: whyFacts, hasWhyFacts: !whyFacts.isEmpty,
            estimate: why.estimatedStart.map(NewWorkloadPage.estimateText), facts: facts,
            history: history.reversed().map { r in
                .init(time: PortalFormat.time(Date(timeIntervalSince1970: Double(r.timeMillis) / 1000)), action: r.action, actor: "\(r.actorKind):\(r.actorID)", detail: r.detail)
            },
            canCancel: s.principal.canChange(team: e.team) && !e.state.isTerminal && !e.cancelRequested,
            logSource: "/portal/workloads/\(Self.query(e.id))/logs?attempt=\(max(1, view.attempt))",
            attempts: attempts, submitted: request.uri.queryParameters.get("submitted") != nil)
        return Self.html(PortalTemplates.render("workload", page))
    }

    /// The log of one pod and attempt as plain text (`GET /v1/workloads/{id}/logs`); with `follow=1` it streams until
    /// the attempt ends. Served as text, so a browser never reads it as HTML.
    func logs(_ request: Request, _ context: Context, _ s: SignedIn) async throws -> Response {
        let ref = try context.parameters.require("id")
        let q = request.uri.queryParameters
        let e = try await visible(ref, s)
        let pod = Int(q.get("pod") ?? "0") ?? 0
        let attempt = q.get("attempt").flatMap { Int($0) }
        let follow = q.get("follow") == "1" || q.get("follow") == "true"
        let cp = deps.controlPlane
        let (w, a) = try await cp.logTarget(e.id, pod: max(0, pod), attempt: attempt, by: s.principal)
        let id = w.id
        let body = ResponseBody { writer in
            try await cp.streamLog(workload: id, attempt: a, pod: pod, follow: follow) { try await writer.write(ByteBuffer(bytes: $0)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store",
                                               HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                                               HTTPField.Name("Content-Security-Policy")!: "default-src 'none'; sandbox"], body: body)
    }

    func cancel(_ request: Request, _ context: Context, _ s: SignedIn) async throws -> Response {
        let ref = try context.parameters.require("id")
        let e = try await visible(ref, s)
        _ = try await deps.controlPlane.cancel(e.id, by: s.principal)
        return Self.redirect("/portal/workloads/\(Self.query(e.id))")
    }
}

struct WorkloadPage {
    struct Fact {
        var label, value: String
        init(_ label: String, _ value: String) {
            self.label = label
            self.value = value
        }
    }

    struct Event {
        var time, action, actor, detail: String
    }

    struct AttemptLink {
        var number: Int
        var href: String
    }

    var frame: Frame
    var id, name, state, message, why: String
    /// Optional, not empty: Mustache takes an empty string as true.
    var whyReason: String?
    var whyFacts: [Fact]
    var hasWhyFacts: Bool
    var estimate: String?
    var facts: [Fact]
    var history: [Event]
    var canCancel: Bool
    var logSource: String
    var attempts: [AttemptLink]
    var submitted: Bool

    static let template = """
    {{>header}}
    {{#submitted}}<p class="notice" role="status">Submitted.</p>{{/submitted}}
    <div class="card" data-live>
    <p>State: <span id="state" class="state state-{{state}}" data-id="{{id}}" aria-live="polite">{{state}}</span> <span id="message" class="muted">{{message}}</span></p>
    {{#canCancel}}<form method="post" action="/portal/workloads/{{id}}/cancel" id="cancel" class="inline">{{#frame}}<input type="hidden" name="csrf" value="{{csrf}}">{{/frame}}<button type="submit" class="danger">Cancel this workload</button></form>{{/canCancel}}
    </div>
    <section aria-labelledby="why-title">
    <h2 id="why-title">Why</h2>
    <p id="why">{{#whyReason}}<strong>{{whyReason}}</strong>: {{/whyReason}}{{why}}</p>
    {{#hasWhyFacts}}<dl class="facts">{{#whyFacts}}<dt>{{label}}</dt><dd>{{value}}</dd>{{/whyFacts}}</dl>{{/hasWhyFacts}}
    {{#estimate}}<p id="estimated-start">{{estimate}}</p>{{/estimate}}
    </section>
    <section aria-labelledby="facts-title">
    <h2 id="facts-title">Details</h2>
    <dl class="facts">{{#facts}}<dt>{{label}}</dt><dd>{{value}}</dd>{{/facts}}</dl>
    </section>
    <section aria-labelledby="logs-title">
    <h2 id="logs-title">Logs</h2>
    <p class="muted">Attempts: {{#attempts}}<a href="{{href}}">{{number}}</a> {{/attempts}}(plain text)</p>
    <pre id="log" data-src="{{logSource}}" aria-live="off">The log streams here while the page is open; without JavaScript, open an attempt's log above.</pre>
    </section>
    <section aria-labelledby="history-title">
    <h2 id="history-title">History</h2>
    <div class="scroll"><table><thead><tr><th scope="col">Time</th><th scope="col">What</th><th scope="col" class="hide-narrow">Who</th><th scope="col">Detail</th></tr></thead>
    <tbody>{{#history}}<tr><td>{{time}}</td><td>{{action}}</td><td class="hide-narrow">{{actor}}</td><td>{{detail}}</td></tr>{{/history}}</tbody></table></div>
    </section>
    {{>footer}}
    """
}
