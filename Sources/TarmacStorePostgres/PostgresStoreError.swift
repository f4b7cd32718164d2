import Foundation
import PostgresNIO

/// What the PostgreSQL store could not do, with the server's own words (SQLSTATE and message) where it answered.
public enum PostgresStoreError: Error, CustomStringConvertible, Sendable {
    /// The URL is not one the store understands.
    case location(String)
    /// The server refused or failed a statement.
    case server(sqlState: String?, message: String, statement: String)
    /// The database's schema was written by a newer Tarmac: this one does not know some of its migrations.
    case newerSchema(unknown: [String])
    /// The server could not be reached or the connection broke.
    case connection(String)
    /// This process led with `epoch`, and another has claimed leadership since (`current`): its writes are refused.
    case deposed(epoch: Int64, current: Int64?)

    public var description: String {
        switch self {
        case .location(let m): return m
        case .server(let state, let message, let statement):
            return "PostgreSQL: \(message)" + (state.map { " (SQLSTATE \($0))" } ?? "") + " in: \(statement.prefix(120))"
        case .newerSchema(let unknown):
            return "the database's schema is newer than this tarmac: it has migrations this version does not know (\(unknown.joined(separator: ", "))); run the newer version"
        case .connection(let m): return "PostgreSQL: \(m)"
        case .deposed(let epoch, let current):
            return "this replica led with epoch \(epoch) and another has led since (epoch \(current.map(String.init) ?? "none")): its writes are refused"
        }
    }

    /// The SQLSTATE of a unique key taken (23505).
    var isUniqueViolation: Bool {
        if case .server(let s, _, _) = self { return s == "23505" }
        return false
    }

    /// A PostgresNIO error as the store reports it (its own description hides the server's message on purpose).
    static func from(_ error: any Error, statement: String) -> any Error {
        if error is PostgresStoreError || error is CancellationError { return error }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                return PostgresStoreError.server(sqlState: info[.sqlState], message: info[.message] ?? "\(e.code)", statement: statement)
            }
            return PostgresStoreError.connection("\(e.code)" + (e.underlying.map { ": \($0)" } ?? ""))
        }
        return error
    }
}
