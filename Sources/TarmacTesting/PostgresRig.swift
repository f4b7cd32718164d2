import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real PostgreSQL server the tests run against: TARMAC_TEST_POSTGRES (the URL of any server, as a user that may
/// create databases), or a throwaway server (Tests/Support/postgres-rig) started once for this test process and
/// stopped when it exits. Each test gets a database of its own (`database()`), as it gets a SQLite file of its own.
/// Without TARMAC_TEST_POSTGRES or PostgreSQL's programs, the PostgreSQL tests skip with `skipMessage`.
public enum PostgresRig {
    static let environment = ProcessInfo.processInfo.environment
    static let state = NSTemporaryDirectory() + "tarmac-postgres-rig-\(getpid())"
    public static let skipMessage = "needs PostgreSQL: apt-get install postgresql (.ci/run installs it), or TARMAC_TEST_POSTGRES=postgres://USER@HOST/DB"

    /// The admin URL and the folder of PostgreSQL's programs (psql), or why there is none.
    static let started: (url: String?, bin: String?, failure: String?) = {
        if let url = environment["TARMAC_TEST_POSTGRES"], !url.isEmpty { return (url, nil, nil) }
        guard let port = try? TestPorts.free() else { return (nil, nil, "no free port") }
        let out = state + ".out"
        let q: (String) -> String = { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        // Through system(3), its output to a file: the server it leaves running would hold a pipe open forever.
        let status = system("/bin/bash \(q(Fixtures.path("Tests/Support/postgres-rig"))) start \(q(state)) \(port) > \(q(out)) 2>&1 < /dev/null")
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        guard status == 0, lines.count >= 2, lines.last!.hasPrefix("postgres://") else {
            return (nil, nil, "Tests/Support/postgres-rig start failed (status \(status)):\n\(lines.joined(separator: "\n"))")
        }
        atexit {
            _ = system("/bin/bash '\(Fixtures.path("Tests/Support/postgres-rig"))' stop '\(PostgresRig.state)' > /dev/null 2>&1; rm -f '\(PostgresRig.state).out'")
        }
        return (lines.last!, lines[lines.count - 2], nil)
    }()

    /// Whether a server is there to test against (starting the throwaway one if it is not started yet).
    public static var available: Bool { started.url != nil }

    /// Why there is no server (nil when there is one).
    public static var failure: String? { started.failure }

    /// The admin URL of the server.
    public static var adminURL: String? { started.url }

    /// A new, empty database on the server (the rig's, or the one `admin` names); its URL.
    public static func database(_ prefix: String = "t", on admin: String? = nil) throws -> String {
        guard let admin = admin ?? started.url, var c = URLComponents(string: admin) else { throw RigError(message: started.failure ?? "no PostgreSQL server") }
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try psql(admin, "CREATE DATABASE \(name)")
        c.path = "/" + name
        return c.string!
    }

    /// Runs one SQL command with psql against `url`; its output.
    @discardableResult
    public static func psql(_ url: String, _ command: String) throws -> String {
        let p = Process()
        let bin = started.bin.map { $0 + "/psql" }
        p.executableURL = URL(fileURLWithPath: bin.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil } ?? "/usr/bin/psql")
        p.arguments = [url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", command]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw RigError(message: "psql -c \(command): \(text)") }
        return text
    }

    public struct RigError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
