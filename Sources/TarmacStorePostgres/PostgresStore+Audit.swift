import Foundation
import PostgresNIO
import TarmacCore

/// The audit chain on PostgreSQL: text fields as bytes (they round-trip byte for byte, NULs included), each record linked
/// to the head inside the write transaction that holds the store's write lock.
extension PostgresStore {
    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        try await read(Self.auditSelect(query)).map(Self.auditRecord)
    }

    public func auditHead() async throws -> (seq: Int64, hash: String)? {
        guard let row = try await read("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").first else { return nil }
        let (seq, hash) = try row.decode((Int64, String).self)
        return (seq, hash)
    }

    public func appendAudit(_ audit: [AuditDraft]) async throws {
        // Through the group commit: many small appends (the tool gateway's calls) share a transaction.
        try await write { sql in try await Self.append(audit, sql) }
    }

    /// Links records onto the chain's head, inside the caller's write transaction: one statement for all of them.
    static func append(_ drafts: [AuditDraft], _ sql: SQLSession) async throws {
        guard !drafts.isEmpty else { return }
        var binds = PostgresBindings()
        let rows = try await link(drafts, sql, into: &binds)
        try await sql.execute(PostgresQuery(unsafeSQL: "INSERT INTO audit \(auditColumns) VALUES " + rows.map { "(\($0))" }.joined(separator: ", "), binds: binds))
    }

    static let auditColumns = "(seq, \"timeMillis\", \"actorKind\", \"actorID\", action, object, before, after, detail, \"previousHash\", hash, tool, workload)"

    /// Links records onto the chain's head (moving the transaction's head past them) and adds their values to `binds`;
    /// one list of placeholders per record, for an INSERT the caller writes.
    static func link(_ drafts: [AuditDraft], _ sql: SQLSession, into binds: inout PostgresBindings) async throws -> [String] {
        let head = try await sql.log.auditHead(sql)
        var seq = head.seq
        var previous = head.seq == 0 ? AuditRecord.genesis : head.hash
        var rows: [String] = []
        for d in drafts {
            seq += 1
            let r = AuditRecord(seq: seq, draft: d, previousHash: previous)
            let first = binds.count + 1
            binds.append(r.seq)
            binds.append(r.timeMillis)
            for text in [r.actorKind, r.actorID, r.action, r.object, r.before, r.after, r.detail] { try binds.append(Data(text.utf8)) }
            binds.append(r.previousHash)
            binds.append(r.hash)
            try binds.append(r.tool.map { Data($0.utf8) })
            try binds.append(r.workload.map { Data($0.utf8) })
            rows.append((first..<(first + 13)).map { "$\($0)" }.joined(separator: ", "))
            previous = r.hash
        }
        sql.log.audit = (seq, previous)
        return rows
    }

    /// The query's conditions on the indexed columns, values bound as bytes; "starts with" is a range of bytes (no
    /// UTF-8 text holds the byte 0xFF).
    static func auditSelect(_ q: AuditQuery) -> PostgresQuery {
        var sql = "SELECT seq, \"timeMillis\", \"actorKind\", \"actorID\", action, object, before, after, detail, \"previousHash\", hash, tool, workload FROM audit WHERE true"
        var binds = PostgresBindings()
        func bind(_ value: some PostgresEncodable & Sendable) -> String {
            try! binds.append(value, context: .default)
            return "$\(binds.count)"
        }
        func bytes(_ s: String) -> Data { Data(s.utf8) }
        func startsWith(_ column: String, _ prefix: String) -> String {
            "(\(column) >= \(bind(bytes(prefix))) AND \(column) < \(bind(bytes(prefix) + Data([0xFF]))))"
        }
        if let since = q.since { sql += " AND \"timeMillis\" >= \(bind(AuditQuery.millis(since)))" }
        if let until = q.until { sql += " AND \"timeMillis\" < \(bind(AuditQuery.millis(until)))" }
        if let action = q.action { sql += " AND action = \(bind(bytes(action)))" }
        if let tool = q.tool { sql += " AND tool = \(bind(bytes(tool)))" }
        if let workload = q.workload { sql += " AND workload = \(bind(bytes(workload)))" }
        if let a = q.actorCondition {
            var any = [startsWith("\"actorID\"", a.idPrefix)]
            if !a.kinds.isEmpty { any.append("\"actorKind\" IN (" + a.kinds.map { bind(bytes($0)) }.joined(separator: ", ") + ")") }
            if let kind = a.kind { any.append("(\"actorKind\" = \(bind(bytes(kind))) AND \(startsWith("\"actorID\"", a.kindIDPrefix)))") }
            sql += " AND (" + any.joined(separator: " OR ") + ")"
        }
        sql += " ORDER BY seq"
        if let limit = q.limit { sql += " LIMIT \(bind(Int64(max(0, limit))))" }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    static func auditRecord(_ row: PostgresRow) throws -> AuditRecord {
        let (seq, millis, kind, id, action, object, before, after, detail, previous, hash, tool, workload) =
            try row.decode((Int64, Int64, Data, Data, Data, Data, Data, Data, Data, String, String, Data?, Data?).self)
        func text(_ d: Data) -> String { String(decoding: d, as: UTF8.self) }
        return AuditRecord(seq: seq, timeMillis: millis, actorKind: text(kind), actorID: text(id), action: text(action), object: text(object),
                           before: text(before), after: text(after), detail: text(detail), previousHash: previous, hash: hash,
                           tool: tool.map(text), workload: workload.map(text))
    }

    // MARK: API tokens

    public func insertToken(_ token: APIToken, audit: AuditDraft) async throws {
        let body = try Self.encoder.encode(token)
        try await write { sql in
            do {
                try await sql.execute("""
                    INSERT INTO token (id, hash, "createdAt", revoked, body) VALUES (\(token.id), \(token.hash), \(token.createdAt), \(token.revoked), \(body))
                    """)
            } catch let e as PostgresStoreError where e.isUniqueViolation {
                throw PostgresStoreError.server(sqlState: "23505", message: "a token with id \(token.id) or its hash exists", statement: "INSERT INTO token")
            }
            try await Self.append([audit], sql)
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await read("SELECT body FROM token WHERE hash = \(hash)").first.map { try Self.decoder.decode(APIToken.self, from: try $0.decode(Data.self)) }
    }

    public func tokens() async throws -> [APIToken] {
        try await read("SELECT body FROM token ORDER BY \"createdAt\", id").map { try Self.decoder.decode(APIToken.self, from: try $0.decode(Data.self)) }
    }

    public func revokeToken(id: String, audit: AuditDraft) async throws -> Bool {
        try await write { sql in
            guard let body = try await sql.value("SELECT body FROM token WHERE id = \(id) AND NOT revoked FOR UPDATE", as: Data.self) else { return false }
            var t = try Self.decoder.decode(APIToken.self, from: body)
            t.revoked = true
            try await sql.execute("UPDATE token SET revoked = true, body = \(try Self.encoder.encode(t)) WHERE id = \(id)")
            try await Self.append([audit], sql)
            return true
        }
    }
}
