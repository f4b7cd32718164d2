import Foundation
import Logging
import PostgresNIO

/// Statements on one connection (inside a transaction or not), with PostgresNIO's errors turned into the store's.
struct SQLSession {
    let connection: PostgresConnection
    let logger: Logger

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
