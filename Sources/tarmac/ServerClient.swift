import ArgumentParser
import AsyncHTTPClient
import Foundation
import TarmacAPI
import NIOCore
import NIOHTTP1
import Yams

/// Where the CLI finds its server and token: `--server`/`TARMAC_SERVER` and `TARMAC_TOKEN` win over the credentials file
/// (`TARMAC_CREDENTIALS`, else `$XDG_CONFIG_HOME/tarmac/credentials.json`, else `~/.config/tarmac/credentials.json`),
/// which `tarmac up` writes on its first start (mode 0600).
struct Credentials: Codable {
    var server: String
    var token: String

    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["TARMAC_CREDENTIALS"], !p.isEmpty { return p }
        let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let config = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.config")
        return config + "/tarmac/credentials.json"
    }

    static func load() -> Credentials? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Credentials.self, from: $0) }
    }

    /// Writes the file with mode 0600 from the start (never readable by others, not even for a moment).
    func save() throws {
        let p = Self.path
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let tmp = p + ".tmp"
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(self)
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(tmp)")
        }
        guard rename(tmp, p) == 0 else { throw ValidationError("cannot write \(p)") }
    }
}

/// Exit statuses that scripts can rely on (README, "Exit codes").
enum Exit {
    static let refused: Int32 = 1
    static let notFound: Int32 = 3
    static let denied: Int32 = 4
    static let unreachable: Int32 = 5
    static let cancelled: Int32 = 6
}

/// `--server` and `-o`, shared by the commands that talk to a server.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $TARMAC_SERVER, else the credentials file, else http://127.0.0.1:8080).")
    var server: String?

    @Option(name: .shortAndLong, help: "Output format: text, json or yaml.")
    var output: OutputFormatOption = .text

    func client() throws -> ServerClient {
        let env = ProcessInfo.processInfo.environment
        let creds = Credentials.load()
        let url = server ?? env["TARMAC_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? creds?.server ?? "http://127.0.0.1:8080"
        let token = env["TARMAC_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? creds?.token
        return ServerClient(base: url.hasSuffix("/") ? String(url.dropLast()) : url, token: token)
    }
}

struct OutputFormatOption: ExpressibleByArgument, Equatable {
    var format: OutputFormat
    static let text = OutputFormatOption(format: .text)
    init(format: OutputFormat) { self.format = format }
    init?(argument: String) {
        guard let f = OutputFormat(rawValue: argument) else { return nil }
        format = f
    }
    static var allValueStrings: [String] { OutputFormat.allCases.map(\.rawValue) }
}

/// A failed API call, printed as `error: MESSAGE` (with diagnostics) and mapped to an exit status.
struct APIFailure: Error {
    var status: Int
    var code: String
    var message: String
    var diagnostics: [String]

    var exitCode: Int32 {
        switch status {
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
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let contentType { req.headers.add(name: "Content-Type", value: contentType) }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            return try await HTTPClient.shared.execute(req, timeout: timeout)
        } catch {
            throw APIFailure(status: 0, code: "unreachable", message: "cannot reach the Tarmac server at \(base) (\(error)); is `tarmac up` running? Set --server or TARMAC_SERVER.", diagnostics: [])
        }
    }

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
        Terminal.writeError(Terminal.paint("error", "31;1") + ": " + f.message)
        for d in f.diagnostics { Terminal.writeError(d) }
        throw ExitCode(f.exitCode)
    }
}

/// Prints raw JSON from the server as JSON (pretty) or YAML.
func printStructured(_ data: Data, _ format: OutputFormat) throws {
    let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    switch format {
    case .yaml:
        print(try Yams.dump(object: object, sortKeys: true), terminator: "")
    default:
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: pretty, as: UTF8.self))
    }
}
