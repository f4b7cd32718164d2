import ArgumentParser
import AsyncHTTPClient
import Foundation
import TarmacAPI
import TarmacModel
import NIOCore
import NIOHTTP1
import Yams

/// Exit statuses that scripts can rely on (README, "Exit codes").
enum Exit {
    static let refused: Int32 = 1
    static let usage: Int32 = 2
    static let notFound: Int32 = 3
    static let denied: Int32 = 4
    static let unreachable: Int32 = 5
    static let cancelled: Int32 = 6
    /// `tarmac up`: the data directory or a port is held by another process.
    static let held: Int32 = 7
}

/// `--server`, `--context` and `-o`, shared by the commands that talk to a server.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $TARMAC_SERVER, else the current context of the credentials file, else http://127.0.0.1:8080).")
    var server: String?

    @Option(name: .long, help: "Use this context of the credentials file (see `tarmac login --list`) instead of the current one.")
    var context: String?

    @Option(name: .shortAndLong, help: "Output format: text, json, yaml or csv.")
    var output: OutputFormatOption = .text

    func client() throws -> ServerClient {
        let env = ProcessInfo.processInfo.environment
        let creds = Credentials.load()
        var chosen: Credentials.Context?
        if let context {
            guard let c = creds?.contexts[context] else {
                let known = creds?.contexts.keys.sorted() ?? []
                let hint = Suggestions.closest(to: context, in: known).map { "; did you mean '\($0)'?" } ?? (known.isEmpty ? "; there is none yet (`tarmac up` or `tarmac login` adds one)" : " (contexts: \(known.joined(separator: ", ")))")
                throw ValidationError("no context '\(context)' in \(Credentials.path)\(hint)")
            }
            chosen = c
        }
        let explicit = server ?? env["TARMAC_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
        let url = explicit ?? chosen?.server ?? creds?.currentContext?.server ?? "http://127.0.0.1:8080"
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        // The token of the context that names this server (a token is never sent to a server it was not issued by).
        let stored = chosen.map { $0.server == url ? $0.token : nil } ?? creds?.context(forServer: base)?.token
        let token = env["TARMAC_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? stored
        // With several servers in the credentials file, the one chosen by default is named: a command never goes to
        // the wrong server in silence.
        if explicit == nil, context == nil, let creds, creds.contexts.count > 1, let current = creds.current {
            Terminal.writeError("(server \(base): context \(current), one of \(creds.contexts.count) in \(Credentials.path); --context NAME or TARMAC_SERVER chooses another)")
        }
        return ServerClient(base: base, token: token)
    }
}

struct OutputFormatOption: ExpressibleByArgument, Equatable, CustomStringConvertible {
    var format: OutputFormat
    static let text = OutputFormatOption(format: .text)
    init(format: OutputFormat) { self.format = format }
    init?(argument: String) {
        guard let f = OutputFormat(rawValue: argument) else { return nil }
        format = f
    }
    static var allValueStrings: [String] { OutputFormat.allCases.map(\.rawValue) }
    /// As users write it (help shows `default: text`).
    var description: String { format.rawValue }
}

/// A failed API call, printed as `error: MESSAGE` (with diagnostics) and mapped to an exit status.
struct APIFailure: Error {
    var status: Int
    var code: String
    var message: String
    var diagnostics: [String]

    var exitCode: Int32 {
        switch status {
        case 0 where code == "unreachable": Exit.unreachable
        case 401, 403: Exit.denied
        case 404: Exit.notFound
        case 500...: Exit.unreachable
        default: Exit.refused
        }
    }
}

struct ServerClient {
    var base: String
    var token: String?

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil, headers: [(String, String)] = [],
                 timeout: TimeAmount = .seconds(60)) async throws -> HTTPClientResponse {
        // A server that is down is said at once, not after the HTTP client's retries run out.
        try await Reachability.check(base)
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let contentType { req.headers.add(name: "Content-Type", value: contentType) }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        // A request that may be sent twice (a read, or one with an Idempotency-Key) is sent again while the control
        // plane answers 503 with Retry-After (its replicas failing over, a leader recovering its state), for a while.
        let repeatable = method == .GET || method == .HEAD || headers.contains { $0.0.lowercased() == "idempotency-key" }
        let giveUp = ContinuousClock.now + Self.retryWindow
        var announced = false
        while true {
            let resp: HTTPClientResponse
            do {
                resp = try await HTTPClient.shared.execute(req, timeout: timeout)
            } catch {
                throw APIFailure(status: 0, code: "unreachable", message: Reachability.message(base, Reachability.reason(error)), diagnostics: [])
            }
            guard repeatable, resp.status == .serviceUnavailable, let after = resp.headers.first(name: "Retry-After").flatMap(Int.init),
                  ContinuousClock.now + .seconds(after) < giveUp else { return resp }
            let said = (try? await resp.body.collect(upTo: 1 << 16)).map { Data(buffer: $0) } ?? Data()
            if !announced {
                let why = (try? APIJSON.decoder.decode(ErrorBody.self, from: said))?.error.message ?? "503"
                let reason = why.hasSuffix("; try again") ? String(why.dropLast("; try again".count)) : why
                Terminal.writeError("note: \(reason); retrying for up to \(Self.retryWindow.components.seconds) s")
                announced = true
            }
            try await Task.sleep(for: .seconds(max(1, after)))
        }
    }

    /// How long a repeatable request is retried while the control plane answers 503 with Retry-After: Kubernetes'
    /// default lease duration, a start, and some.
    static let retryWindow: Duration = .seconds(45)

    /// Sends a request and returns the body of a 2xx response; anything else becomes an `APIFailure`.
    func call(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil, headers: [(String, String)] = []) async throws -> (status: Int, body: Data) {
        let resp = try await request(method, path, body: body, contentType: contentType, headers: headers)
        let data = Data(buffer: try await resp.body.collect(upTo: 64 << 20))
        try Self.check(resp.status.code, data)
        return (Int(resp.status.code), data)
    }

    static func check(_ status: UInt, _ data: Data) throws {
        guard !(200..<300).contains(status) else { return }
        if let e = try? APIJSON.decoder.decode(ErrorBody.self, from: data) {
            throw APIFailure(status: Int(status), code: e.error.code, message: e.error.message, diagnostics: e.error.diagnostics.map(\.text))
        }
        throw APIFailure(status: Int(status), code: "http\(status)", message: "the server answered \(status): \(String(decoding: data.prefix(500), as: UTF8.self))", diagnostics: [])
    }

    func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        try Self.decode(T.self, try await call(.GET, path).body)
    }

    static func decode<T: Decodable>(_ t: T.Type, _ data: Data) throws -> T {
        do { return try APIJSON.decoder.decode(T.self, from: data) } catch {
            throw APIFailure(status: 0, code: "badResponse", message: "the server's answer could not be read: \(error)", diagnostics: [])
        }
    }

    static func path(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? s }
    static func query(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+"])) ?? s }
}

/// Runs a client command body, printing failures as `error:` lines and exiting with their status.
func runClient(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let f as APIFailure {
        // A diagnostic that says the message already (with FILE:LINE:COL) is enough: nothing is printed twice.
        if !f.diagnostics.contains(where: { $0.contains(f.message) }) {
            Terminal.writeError(Terminal.paint("error", "31;1") + ": " + f.message)
        }
        for d in f.diagnostics { Terminal.writeError(d) }
        throw ExitCode(f.exitCode)
    }
}

/// Prints raw JSON from the server as JSON (pretty), YAML, or CSV (a list's items, or the one object, a row each;
/// nested fields as `a.b` columns).
func printStructured(_ data: Data, _ format: OutputFormat) throws {
    let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    switch format {
    case .yaml:
        print(try Yams.dump(object: object, sortKeys: true), terminator: "")
    case .csv:
        print(CSV.table(object), terminator: "")
    default:
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: pretty, as: UTF8.self))
    }
}

/// CSV (RFC 4180) of JSON values: the rows of a list (`items` of an object, or the array itself), else the one object.
enum CSV {
    static func table(_ object: Any) -> String {
        let rows: [Any]
        if let d = object as? [String: Any], let items = d["items"] as? [Any] { rows = items } else if let a = object as? [Any] { rows = a } else { rows = [object] }
        var columns: [String] = []
        var seen: Set<String> = []
        let flat = rows.map { row -> [String: String] in
            var out: [String: String] = [:]
            flatten(row, prefix: "", into: &out)
            for k in out.keys.sorted() where seen.insert(k).inserted { columns.append(k) }
            return out
        }
        var text = columns.map(field).joined(separator: ",") + "\r\n"
        for r in flat { text += columns.map { field(r[$0] ?? "") }.joined(separator: ",") + "\r\n" }
        return text
    }

    static func flatten(_ v: Any, prefix: String, into out: inout [String: String]) {
        let name = prefix.isEmpty ? "value" : prefix
        switch v {
        case let d as [String: Any]:
            if d.isEmpty, !prefix.isEmpty { out[prefix] = "" }
            for (k, x) in d { flatten(x, prefix: prefix.isEmpty ? k : prefix + "." + k, into: &out) }
        case let a as [Any]:
            let data = (try? JSONSerialization.data(withJSONObject: a, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            out[name] = String(decoding: data, as: UTF8.self)
        case is NSNull:
            out[name] = ""
        case let b as Bool where type(of: v) == Bool.self || "\(type(of: v))".contains("Boolean"):
            out[name] = b ? "true" : "false"
        default:
            out[name] = "\(v)"
        }
    }

    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
