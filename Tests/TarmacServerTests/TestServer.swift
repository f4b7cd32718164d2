import AsyncHTTPClient
import Testing
import Foundation
import NIOCore
import NIOHTTP1
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// A real `tarmac up` on a free loopback port with its own data directory and credentials file, driven by the real CLI
/// and by HTTP.
final class TestServer: @unchecked Sendable {
    static let binary = Fixtures.tarmacBinary

    let dir: TemporaryDirectory
    let port: Int
    var process: Process?
    var extraArguments: [String]
    var data: String { dir.path + "/data" }
    /// The CLI's credentials file (another server's, to test several servers in one file).
    var credentials: String { sharedCredentials ?? dir.path + "/credentials.json" }
    var sharedCredentials: String?
    var url: String { "http://127.0.0.1:\(port)" }
    var logFile: String { dir.path + "/server.log" }

    var platform = Fixtures.examplePlatform
    /// More environment for the server (a tool's upstream credential, say).
    var extraEnvironment: [String: String] = [:]
    /// Run the server as this unprivileged user (through setpriv), from a copy of the binary the user can execute.
    var runAs: UnprivilegedUser?

    init(arguments: [String] = []) throws {
        dir = try TemporaryDirectory(prefix: "tarmac-server")
        port = try Self.freePort()
        extraArguments = arguments
    }

    deinit {
        stop(signal: SIGKILL)
        // Pods of a test must not outlive it.
        killSupervisors()
    }

    /// Uses a copy of the example platform with `extra` appended to its spec.
    func usePlatform(appendingToSpec extra: String) throws {
        let src = URL(fileURLWithPath: Fixtures.examplePlatform).deletingLastPathComponent()
        let dst = dir.url.appendingPathComponent("platform")
        try FileManager.default.copyItem(at: src, to: dst)
        let file = dst.appendingPathComponent("platform.yaml")
        try (try String(contentsOf: file, encoding: .utf8) + extra).write(to: file, atomically: true, encoding: .utf8)
        platform = file.path
    }

    /// Starts (or restarts) the server and waits until it is ready.
    func start() async throws {
        let p = Process()
        let arguments = ["up", "--data", data, "--port", String(port), "--platform", platform, "--grace", "2", "--rate-limit", "0"] + extraArguments
        if let user = runAs {
            p.executableURL = URL(fileURLWithPath: user.setpriv)
            p.arguments = ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", try user.binary(in: dir)] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = arguments
        }
        p.environment = environment
        if !FileManager.default.fileExists(atPath: logFile) { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try log.seekToEnd()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        for _ in 0..<300 {
            if let (status, _) = try? await http(.GET, "/readyz", token: nil), status == 200 { return }
            guard p.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("server did not become ready; log:\n\(serverLog)")
    }

    func stop(signal: Int32) {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        process = nil
    }

    var serverLog: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["TARMAC_CREDENTIALS"] = credentials
        env["NO_COLOR"] = "1"
        env["TARMAC_SERVER"] = nil
        env["TARMAC_TOKEN"] = nil
        env["TARMAC_PLATFORM"] = nil
        if runAs != nil { env["HOME"] = dir.path + "/home" }
        for (k, v) in extraEnvironment { env[k] = v }
        return env
    }

    var adminToken: String {
        get throws {
            // The context `tarmac up` saved for this server (named by its host and port).
            guard let d = FileManager.default.contents(atPath: credentials),
                  let o = try JSONSerialization.jsonObject(with: d) as? [String: Any],
                  let contexts = o["contexts"] as? [String: [String: Any]],
                  let t = contexts["127.0.0.1:\(port)"]?["token"] as? String else {
                throw TestFailure("no context for 127.0.0.1:\(port) in the credentials file at \(credentials)")
            }
            return t
        }
    }

    /// Runs the real CLI against this server.
    func cli(_ args: [String], token: String? = nil) throws -> ProcessResult {
        var env = environment
        if let token { env["TARMAC_TOKEN"] = token }
        return try Run.program(Self.binary, args, cwd: Fixtures.root.path, environment: env)
    }

    func http(_ method: HTTPMethod, _ path: String, token: String?, body: String? = nil, headers: [(String, String)] = []) async throws -> (Int, Data) {
        var req = HTTPClientRequest(url: url + path)
        req.method = method
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let body = try await resp.body.collect(upTo: 16 << 20)
        return (Int(resp.status.code), Data(body.readableBytesView))
    }

    /// A request to any URL (another port of the server, say).
    static func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> (Int, Data) {
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        return (Int(resp.status.code), Data(try await resp.body.collect(upTo: 16 << 20).readableBytesView))
    }

    /// A request to any URL: the status, the answering version (`X-Tarmac-Model-Version`) and the body.
    static func requestWithHeaders(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> (Int, String?, Data) {
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        return (Int(resp.status.code), resp.headers.first(name: "X-Tarmac-Model-Version"), Data(try await resp.body.collect(upTo: 16 << 20).readableBytesView))
    }

    func json(_ method: HTTPMethod, _ path: String, token: String?, body: String? = nil, headers: [(String, String)] = []) async throws -> (Int, [String: Any]) {
        let (s, d) = try await http(method, path, token: token, body: body, headers: headers)
        return (s, (try? JSONSerialization.jsonObject(with: d) as? [String: Any]) ?? [:])
    }

    /// Polls a workload until `until` holds (or fails after `timeout`), returning its last JSON.
    /// Puts a fake `nvidia-smi` (this script) first on the server's PATH: the machine's GPUs, as the tests say them.
    func fakeNvidiaSMI(_ script: String) throws {
        chmod(try dir.write("bin/nvidia-smi", script), 0o755)
        extraEnvironment["PATH"] = dir.path + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }

    func waitFor(_ ref: String, timeout: Duration = .seconds(60), _ until: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let token = try adminToken
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            let (s, w) = try await json(.GET, "/v1/workloads/\(ref)", token: token)
            if s == 200 {
                last = w
                if until(w) { return w }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("timed out waiting for \(ref); last: \(last)\nserver log:\n\(serverLog.suffix(3000))")
    }

    /// The PIDs of supervisors of this server's pods that are still alive.
    func liveSupervisors() -> [pid_t] {
        guard let e = FileManager.default.enumerator(atPath: data + "/pods") else { return [] }
        var out: [pid_t] = []
        while let f = e.nextObject() as? String {
            guard f.hasSuffix("supervisor.pid"), let s = try? String(contentsOfFile: data + "/pods/" + f, encoding: .utf8),
                  let pid = pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0 else { continue }
            out.append(pid)
        }
        return out
    }

    /// Stops what the test's pods still run: each supervisor is asked to stop its pod (SIGTERM: the pod gets the
    /// server's grace), and what is left after 5 s is killed. (A supervisor killed outright leaves its pod running: a
    /// service would outlive the test.)
    func killSupervisors() {
        let live = liveSupervisors()
        guard !live.isEmpty else { return }
        for pid in live { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, live.contains(where: { kill($0, 0) == 0 }) { usleep(50_000) }
        for pid in live where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    static func freePort() throws -> Int { try TestPorts.free() }
}

/// An ordinary user for tests that run `tarmac up` without root (created once with useradd; needs root).
struct UnprivilegedUser: Sendable {
    static let name = "tarmac-test"
    let uid: UInt32
    let gid: UInt32
    let setpriv: String

    /// The user, created if needed; nil when this process cannot (not root, or no useradd/setpriv).
    static func make() -> UnprivilegedUser? {
        guard getuid() == 0, let setpriv = Run.which("setpriv") ?? ["/usr/bin/setpriv"].first(where: { FileManager.default.fileExists(atPath: $0) }) else { return nil }
        if getpwnam(name) == nil {
            guard let useradd = Run.which("useradd") ?? Run.which("/usr/sbin/useradd") ?? (FileManager.default.fileExists(atPath: "/usr/sbin/useradd") ? "/usr/sbin/useradd" : nil),
                  (try? Run.program(useradd, ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]))?.status == 0 else { return nil }
        }
        guard let pw = getpwnam(name) else { return nil }
        return UnprivilegedUser(uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid, setpriv: setpriv)
    }

    /// Gives the user the test's directory and a copy of the tarmac binary in it (the build folder may not be reachable by it).
    func binary(in dir: TemporaryDirectory) throws -> String {
        let copy = dir.path + "/bin/tarmac"
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.createDirectory(atPath: dir.path + "/bin", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestServer.binary, toPath: copy)
            try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        }
        _ = try Run.program("/bin/chown", ["-R", "\(uid):\(gid)", dir.path])
        chmod(dir.path, 0o755)
        return copy
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Workload documents for the tests.
enum Doc {
    static func training(_ name: String, team: String = "search", owner: String = "alice@acme.example", size: String = "cpu-small",
                         script: String, maxDuration: String = "10m") -> String {
        command(name, ["python3", "-c", script], team: team, owner: owner, size: size, maxDuration: maxDuration)
    }

    /// A one-worker training job that runs `command` (ends with a newline, so more of `spec` may be appended).
    static func command(_ name: String, _ command: [String], team: String = "search", owner: String = "alice@acme.example",
                        size: String = "cpu-small", maxDuration: String = "10m") -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: \(name), team: \(team), env: dev, owner: \(owner)}
        spec:
          size: \(size)
          workers: 1
          image: docker.io/library/python:3.12-slim
          command: [\(command.map(jsonString).joined(separator: ", "))]
          maxDuration: \(maxDuration)

        """
    }

    static func batch(_ name: String, script: String) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: \(name), team: platform, env: dev, owner: ops@acme.example}
        spec:
          size: cpu-small
          tasks: 1
          parallelism: 1
          image: docker.io/library/python:3.12-slim
          command: [python3, -c, \(jsonString(script))]
          maxDuration: 5m

        """
    }

    static func jsonString(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed]), as: UTF8.self)
    }
}

/// Every suite that starts servers runs inside this one, one test at a time: each test starts real processes, and the
/// machine has two cores.
@Suite(.serialized) enum ServerTests {}
