import Foundation
import PostgresNIO

/// Where the PostgreSQL store lives, from a libpq-style URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`.
/// `sslmode` is `disable`, `prefer` (the default, as libpq's) or `require`; a `host=/path` parameter names a Unix
/// socket directory instead of a host. The password may also come from the environment (`PGPASSWORD`), so it need not
/// stand in a command line.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public enum TLSMode: String, Sendable { case disable, prefer, require }

    /// Whether a store argument names PostgreSQL (else it is a SQLite file).
    public static func isURL(_ text: String) -> Bool { text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") }

    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard Self.isURL(text), let c = URLComponents(string: text) else {
            throw PostgresStoreError.location("'\(Self.redacted(text))' is not a PostgreSQL URL: expected postgres://USER@HOST[:PORT]/DATABASE")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys where !["sslmode", "host"].contains(name) {
            throw PostgresStoreError.location("unknown parameter '\(name)' in the PostgreSQL URL (known: sslmode, host)")
        }
        guard let user = c.user, !user.isEmpty else { throw PostgresStoreError.location("the PostgreSQL URL names no user (postgres://USER@HOST/DATABASE)") }
        let database = String(c.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresStoreError.location("the PostgreSQL URL names no database (postgres://USER@HOST/DATABASE)")
        }
        let mode = query["sslmode"] ?? "prefer"
        guard let tls = TLSMode(rawValue: mode) else {
            throw PostgresStoreError.location("sslmode '\(mode)' is not one of disable, prefer, require")
        }
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 } ?? environment["PGPASSWORD"]
        self.database = database
        self.host = c.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        self.port = c.port ?? 5432
        self.socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        self.tls = tls
    }

    /// The URL without its password, for messages and logs.
    public var description: String {
        "postgres://\(user)@\(socketDirectory == nil ? "\(host):\(port)" : "")/\(database)" + (socketDirectory.map { "?host=\($0)" } ?? "")
    }

    static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text), c.password != nil else { return text }
        c.password = "***"
        return c.string ?? text
    }

    /// The client's configuration: a pool of `connections`.
    func configuration(connections: Int) throws -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let dir = socketDirectory {
            config = .init(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let tlsConfig: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsConfig = .disable
            case .prefer: tlsConfig = .prefer(.makeClientConfiguration())
            case .require: tlsConfig = .require(.makeClientConfiguration())
            }
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: tlsConfig)
        }
        config.options.maximumConnections = connections
        config.options.connectTimeout = .seconds(10)
        // A process paused inside a transaction (it holds the write lock) is cut off by the server, not waited for.
        config.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "10s")]
        return config
    }
}
