import Foundation
import Logging
import PostgresNIO

/// Statements on one connection (inside a transaction or not), with PostgresNIO's errors turned into the store's.
struct SQLSession {
    let connection: PostgresConnection
    let logger: Logger
    /// Inside a write transaction: the heads of the audit chain and the transition log, read once per transaction.
    var log = LogHeads()

    /// Every row of a query's answer.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await connection.query(query, logger: logger).collect()
        } catch {
            throw PostgresStoreError.from(error, statement: query.sql)
        }
    }

    /// Runs a statement, ignoring any rows it returns.
    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// The first column of the first row, if there is one.
    func value<T: PostgresDecodable>(_ query: PostgresQuery, as: T.Type = T.self) async throws -> T? {
        guard let row = try await rows(query).first else { return nil }
        return try row.decode(T.self)
    }

    /// Runs `body` in a transaction of its own (BEGIN … COMMIT; ROLLBACK when it throws), its error passed on as it is.
    func transaction<T>(_ body: () async throws -> T) async throws -> T {
        try await execute("BEGIN")
        do {
            let value = try await body()
            try await execute("COMMIT")
            return value
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
    }
}

/// The heads of the audit chain and of the transition log inside one write transaction (which holds the write lock, so
/// nobody else moves them): read once, then carried from append to append instead of read again by each. A write
/// rolled back alone (to its savepoint) puts them back as they were before it.
final class LogHeads: @unchecked Sendable {
    var audit: (seq: Int64, hash: String)?
    var transition: Int64?

    struct Snapshot {
        var audit: (seq: Int64, hash: String)?
        var transition: Int64?
    }

    var snapshot: Snapshot { Snapshot(audit: audit, transition: transition) }

    func restore(_ s: Snapshot) {
        audit = s.audit
        transition = s.transition
    }

    func reset() { restore(Snapshot(audit: nil, transition: nil)) }

    /// The audit chain's head (seq 0 and the genesis hash while it is empty).
    func auditHead(_ sql: SQLSession) async throws -> (seq: Int64, hash: String) {
        if let audit { return audit }
        let row = try await sql.rows("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").first.map { try $0.decode((Int64, String).self) }
        let head = (row?.0 ?? 0, row?.1 ?? "")
        audit = head
        return head
    }

    func transitionHead(_ sql: SQLSession) async throws -> Int64 {
        if let transition { return transition }
        let head = try await sql.value("SELECT COALESCE(MAX(seq), 0)::bigint FROM transition", as: Int64.self) ?? 0
        transition = head
        return head
    }
}
