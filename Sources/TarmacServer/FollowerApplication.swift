import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Where the leader serves one of its ports, as a follower last read it from the Lease (the leader writes its addresses
/// there: `LeaderAddress.annotation(for:)`).
public struct LeaderAddress: Sendable, Equatable {
    /// The Lease's holder.
    public var holder: String
    /// The base URL of the leader's port (`http://10.0.0.5:8080`); nil when the holder did not say one.
    public var url: String?

    public init(holder: String, url: String?) {
        self.holder = holder
        self.url = url
    }

    /// The ports a replica serves: the API, the tool gateway, the inference gateway.
    public enum Port: String, Sendable, CaseIterable {
        case api, tools, inference
    }

    /// The Lease annotation a leader writes its address of `port` in.
    public static func annotation(for port: Port) -> String { "tarmac.dev/\(port.rawValue)-url" }

    /// `http://HOST:PORT`, with an IPv6 host in brackets.
    public static func url(host: String, port: Int) -> String {
        (host.contains(":") && !host.hasPrefix("[") ? "http://[\(host)]" : "http://\(host)") + ":\(port)"
    }
}

/// The header a follower adds to what it forwards (its identity): a request that carries it is never forwarded again.
public let forwardedByHeader = "Tarmac-Forwarded-By"

/// What a replica that does not lead serves on each of its ports: every request is forwarded to the leader's same port
/// (the address the leader wrote in the Lease), its body and its answer streamed both ways, so that every replica is a
/// Service endpoint and a client never sees which one leads. `/healthz` answers here (the process serves). On the API
/// port `/readyz` answers 200 while the leader answers its own `/readyz` (a rolling update's new pod becomes ready and
/// the rollout goes on), 503 while there is no leader. With no leader, or one that cannot be reached (it died and its
/// Lease has not expired yet), requests get 503 with `Retry-After`: the CLI and the SDKs retry.
public struct LeaderForwarder: Sendable {
    public let port: LeaderAddress.Port
    /// This replica's identity (put in `Tarmac-Forwarded-By`).
    public let identity: String
    let leader: @Sendable () async -> LeaderAddress?
    let client: HTTPClient
    let logger: Logger

    public init(port: LeaderAddress.Port, identity: String, client: HTTPClient, logger: Logger, leader: @escaping @Sendable () async -> LeaderAddress?) {
        self.port = port
        self.identity = identity
        self.leader = leader
        self.client = client
        self.logger = logger
    }

    /// An HTTP client for forwarding: never follows redirects (the client does), no read timeout (a watch waits for
    /// events), a short connect timeout (an unreachable leader is said at once).
    public static func makeClient() -> HTTPClient {
        var c = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2)))
        c.connectionPool = .init(idleTimeout: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }

    /// Headers that belong to one connection, not to the request or answer (RFC 9110 §7.6.1): never passed on.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                                        "transfer-encoding", "upgrade"]

    public func respond(_ request: Request, context: some RequestContext) async throws -> Response {
        let path = request.uri.path
        if path == "/healthz" { return JSON.text("ok\n") }
        let found = await leader()
        if port == .api, path == "/readyz" { return await readiness(found) }
        if request.headers[HTTPField.Name(forwardedByHeader)!] != nil {
            return try APIError(.serviceUnavailable, code: "standby", "this replica does not lead and the request was already forwarded once (the Lease is moving); try again",
                                headers: [.retryAfter: "1"]).response(from: request, context: context)
        }
        guard let found, let base = found.url else {
            let why = found.map { "\($0.holder) leads but did not say where it serves its \(port.rawValue) port" } ?? "no replica leads yet"
            return try APIError(.serviceUnavailable, code: "standby", "this replica does not lead and \(why); try again", headers: [.retryAfter: "2"])
                .response(from: request, context: context)
        }
        var out = HTTPClientRequest(url: base + request.uri.description)
        out.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            out.headers.add(name: field.name.rawName, value: field.value)
        }
        // HTTP/1.1's Host is the request's authority here: passed on, so the leader sees the address the client used.
        if let authority = request.head.authority { out.headers.replaceOrAdd(name: "Host", value: authority) }
        out.headers.add(name: forwardedByHeader, value: identity)
        if let length = request.headers[.contentLength].flatMap(Int64.init) {
            out.body = .stream(request.body, length: .known(length))
        } else if request.headers[.transferEncoding] != nil {
            out.body = .stream(request.body, length: .unknown)
        }
        let answer: HTTPClientResponse
        do {
            answer = try await client.execute(out, deadline: .distantFuture, logger: logger)
        } catch {
            logger.debug("forwarding to the leader failed", metadata: ["leader": "\(found.holder)", "url": "\(base)", "error": "\(error)"])
            return try APIError(.serviceUnavailable, code: "standby", "this replica does not lead and the leader (\(found.holder) at \(base)) did not answer: \(Self.reason(error)); try again",
                                headers: [.retryAfter: "1"]).response(from: request, context: context)
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let n = HTTPField.Name(name) { headers.append(HTTPField(name: n, value: value)) }
        }
        let status = HTTPResponse.Status(code: Int(answer.status.code), reasonPhrase: answer.status.reasonPhrase)
        let length = answer.headers.first(name: "content-length").flatMap(Int.init)
        let body = answer.body
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            for try await part in body { try await writer.write(part) }
            try await writer.finish(nil)
        })
    }

    /// Why a forward failed, in words.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("errno: 111") || text.contains("Connection refused") { return "connection refused" }
        if let e = error as? HTTPClientError, e == .connectTimeout { return "no connection within 2 s" }
        if let e = error as? HTTPClientError, e == .remoteConnectionClosed { return "it closed the connection" }
        return text
    }

    /// Ready while the leader is (asked at once, for a second at most).
    func readiness(_ found: LeaderAddress?) async -> Response {
        guard let found, let base = found.url else {
            return JSON.text("follower: \(found.map { "\($0.holder) leads and did not say where it serves" } ?? "no replica leads yet")\n", status: .serviceUnavailable)
        }
        do {
            let r = try await client.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(1), logger: logger)
            let said = String(buffer: try await r.body.collect(upTo: 4096)).trimmingCharacters(in: .whitespacesAndNewlines)
            guard r.status == .ok else { return JSON.text("follower: the leader \(found.holder) at \(base) is not ready (\(said))\n", status: .serviceUnavailable) }
            return JSON.text("follower of \(found.holder): forwards to \(base)\n")
        } catch {
            return JSON.text("follower: the leader \(found.holder) at \(base) did not answer (\(Self.reason(error)))\n", status: .serviceUnavailable)
        }
    }
}

/// A follower's port: every request through `forwarder`.
public func buildFollowerApplication(host: String, port: Int, forwarder: LeaderForwarder, logger: Logger) -> some ApplicationProtocol {
    let responder = CallbackResponder<BasicRequestContext> { request, context in try await forwarder.respond(request, context: context) }
    return Application(responder: responder, configuration: .init(address: .hostname(host, port: port), serverName: "tarmac"), logger: logger)
}
