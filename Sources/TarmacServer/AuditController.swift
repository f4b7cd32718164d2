import TarmacCore
import Foundation
import Hummingbird
import TarmacAPI
import NIOCore
import TarmacRuntime

/// /v1/audit: the hash-chained record of every change and decision. Admins and viewers without a team read it.
struct AuditController {
    let store: any Store
    let anchors: String?

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("audit", use: list)
        group.get("audit/verify", use: verify)
        group.get("audit/export", use: export)
    }

    func authorize(_ context: TarmacRequestContext) throws {
        let p = try context.caller()
        guard p.role == .admin || (p.role == .viewer && p.team == nil) else {
            throw APIError(.forbidden, code: "forbidden", "the audit trail is for admins and platform-wide viewers")
        }
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
        try authorize(context)
        var limit = 1000
        if let l = request.uri.queryParameters.get("limit") {
            guard let v = Int(l), v > 0, v <= 100_000 else { throw APIError(.badRequest, code: "badRequest", "limit must be 1 to 100000") }
            limit = v
        }
        let q = request.uri.queryParameters
        let query = AuditQuery(since: try Self.since(request), actor: q.get("actor"), tool: q.get("tool"), workload: q.get("workload"), limit: limit)
        return try JSON.response(AuditList(items: try await store.auditRecords(query).map(AuditView.init)))
    }

    @Sendable func verify(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        try authorize(context)
        let anchored = try anchors.map { try AuditAnchor.read($0) } ?? []
        return try JSON.response(AuditChain.verify(try await store.auditRecords(since: nil, limit: nil), anchors: anchored))
    }

    /// JSON Lines, one record per line, for change-management evidence.
    @Sendable func export(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        try authorize(context)
        let records = try await store.auditRecords(since: try Self.since(request), limit: nil)
        var out = Data()
        for r in records {
            out.append(try APIJSON.encoder.encode(AuditView(r)))
            out.append(0x0A)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(bytes: out)))
    }
}
