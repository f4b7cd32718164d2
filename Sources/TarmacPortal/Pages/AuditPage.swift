import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Audit (admins and platform-wide viewers): the newest records that match the filters (`GET /v1/audit`), and the
/// chain verified against its anchors (`GET /v1/audit/verify`).
extension Portal {
    func audit(_ request: Request, _ s: SignedIn) async throws -> Response {
        try Access.require(s.principal, .readAudit)
        let q = request.uri.queryParameters
        func param(_ k: String) -> String? { q.get(k).flatMap { $0.isEmpty ? nil : $0 } }
        let cp = deps.controlPlane
        let sinceText = param("since") ?? String(ISO8601DateFormatter().string(from: cp.clock.now.addingTimeInterval(-86_400)).prefix(10))
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        guard let since = day.date(from: sinceText) else { throw PortalError(status: .badRequest, message: "since must be a day, like 2026-12-01") }
        let records = try await cp.audit(AuditQuery(since: since, actor: param("actor"), action: param("action"), workload: param("workload"), limit: 100_000),
                                         by: s.principal)
        let anchors = (try? deps.auditAnchors.map { try AuditAnchor.read($0) }) ?? nil
        let v = try await cp.verifyAudit(anchors: anchors ?? [], by: s.principal)
        let shown = records.suffix(AuditPage.shown).reversed().map { r in
            AuditPage.Row(seq: r.seq, time: PortalFormat.time(Date(timeIntervalSince1970: Double(r.timeMillis) / 1000)), actor: "\(r.actorKind):\(r.actorID)",
                          action: r.action, object: r.object, detail: r.detail, change: r.before.isEmpty && r.after.isEmpty ? "" : "\(AuditPage.short(r.before)) → \(AuditPage.short(r.after))")
        }
        let verdict = v.ok ? "The chain verifies: \(v.records) records, head \(v.head.prefix(16))…, \(v.anchorsChecked) anchor\(v.anchorsChecked == 1 ? "" : "s") checked."
            : "The chain does NOT verify: \(v.problem ?? "a record was changed")\(v.firstBad.map { " (first bad record: \($0))" } ?? "")."
        let page = AuditPage(frame: Frame(title: "Audit", current: "/portal/audit", signed: s), ok: v.ok, verdict: verdict,
                             problems: v.problems.map { "record \($0.seq): \($0.message)" }, since: sinceText, actor: param("actor") ?? "",
                             action: param("action") ?? "", workload: param("workload") ?? "", rows: Array(shown), matched: records.count,
                             more: records.count > AuditPage.shown)
        return Self.html(PortalTemplates.render("audit", page))
    }
}

struct AuditPage {
    static let shown = 300

    /// A digest or a long value, cut to what tells records apart on screen (the API and the export have it whole).
    static func short(_ s: String) -> String { s.count > 24 ? String(s.prefix(16)) + "…" : s }

    struct Row {
        var seq: Int64
        var time, actor, action, object, detail, change: String
    }

    var frame: Frame
    var ok: Bool
    var verdict: String
    var problems: [String]
    var since, actor, action, workload: String
    var rows: [Row]
    var matched: Int
    var more: Bool

    static let template = """
    {{>header}}
    <p id="verify" class="notice{{^ok}} bad{{/ok}}" role="status">{{verdict}}</p>
    {{#problems}}<p class="problem">{{.}}</p>{{/problems}}
    <form method="get" action="/portal/audit" class="filters" aria-label="Filters">
    <div class="field"><label for="a-since">Since (day)</label><input id="a-since" name="since" value="{{since}}"></div>
    <div class="field"><label for="a-actor">Actor</label><input id="a-actor" name="actor" value="{{actor}}"></div>
    <div class="field"><label for="a-action">Action</label><input id="a-action" name="action" value="{{action}}"></div>
    <div class="field"><label for="a-workload">Workload id</label><input id="a-workload" name="workload" value="{{workload}}"></div>
    <button type="submit">Filter</button>
    </form>
    <p class="muted">{{matched}} records match{{#more}}; the newest 300 are shown (tarmac audit export has them all){{/more}}.</p>
    <div class="scroll"><table id="audit" class="compact"><thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Object</th><th scope="col" class="hide-narrow">Change</th><th scope="col">Detail</th></tr></thead>
    <tbody>{{#rows}}<tr><td>{{seq}}</td><td>{{time}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{object}}</td><td class="hide-narrow">{{change}}</td><td>{{detail}}</td></tr>{{/rows}}</tbody></table></div>
    {{>footer}}
    """
}
