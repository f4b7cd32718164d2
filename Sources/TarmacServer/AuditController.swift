import TarmacCore
import Foundation
import Hummingbird
import TarmacAPI
import NIOCore
import TarmacRuntime

/// /v1/audit: the hash-chained record of every change and decision. Admins and viewers without a team read it (the
/// control plane's access rules decide).
struct AuditController {
    let controlPlane: ControlPlane
    let anchors: String?

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("audit", use: list)
        group.get("audit/verify", use: verify)
        group.get("audit/export", use: export)
    }

    static func since(_ request: Request) throws -> Date? {
        guard let s = request.uri.queryParameters.get("since") else { return nil }
        if let d = ISO8601DateFormatter().date(from: s) { return d }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate]
        if let d = f.date(from: s) { return d }
        throw APIError(.badRequest, code: "badRequest", "since must be an RFC 3339 time (2026-11-22T10:00:00Z) or a date (2026-11-22)")
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let caller = try context.caller()
        var limit = 1000
        if let l = request.uri.queryParameters.get("limit") {
            guard let v = Int(l), v > 0, v <= 100_000 else { throw APIError(.badRequest, code: "badRequest", "limit must be 1 to 100000") }
            limit = v
        }
        let q = request.uri.queryParameters
        let query = AuditQuery(since: try Self.since(request), actor: q.get("actor"), action: q.get("action"), tool: q.get("tool"), workload: q.get("workload"), limit: limit)
        return try JSON.response(AuditList(items: try await controlPlane.audit(query, by: caller).map(AuditView.init)))
    }

    @Sendable func verify(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let caller = try context.caller()
        let anchored = try anchors.map { try AuditAnchor.read($0) } ?? []
        return try JSON.response(try await controlPlane.verifyAudit(anchors: anchored, by: caller))
    }

    /// JSON Lines, one record per line, for change-management evidence.
    @Sendable func export(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let records = try await controlPlane.audit(AuditQuery(since: try Self.since(request)), by: try context.caller())
        var out = Data()
        for r in records {
            out.append(try APIJSON.encoder.encode(AuditView(r)))
            out.append(0x0A)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(bytes: out)))
    }
}
