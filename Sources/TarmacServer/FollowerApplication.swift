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
        // The request's body is read by one reader only: the server reads what is left of it once the answer is
        // written, so the HTTP client must be done with it by then. A small one is read whole first; a large one (an
        // upload) goes through a relay whose reader is stopped and waited for before the answer ends.
        let length = request.headers[.contentLength].flatMap(Int64.init)
        var relay: BodyRelay?
        if let length, length <= Self.wholeBody {
            out.body = .bytes(try await request.body.collect(upTo: Int(length)))
        } else if length != nil || request.headers[.transferEncoding] != nil {
            let r = BodyRelay(request.body)
            relay = r
            out.body = .stream(r.parts, length: length.map { .known($0) } ?? .unknown)
        }
        let answer: HTTPClientResponse
        do {
            answer = try await client.execute(out, deadline: .distantFuture, logger: logger)
        } catch {
            await relay?.stop()
            logger.debug("forwarding to the leader failed", metadata: ["leader": "\(found.holder)", "url": "\(base)", "error": "\(error)"])
            return try APIError(.serviceUnavailable, code: "standby", "this replica does not lead and the leader (\(found.holder) at \(base)) did not answer: \(Self.reason(error)); try again",
                                headers: [.retryAfter: "1"]).response(from: request, context: context)
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let n = HTTPField.Name(name) { headers.append(HTTPField(name: n, value: value)) }
        }
        let status = HTTPResponse.Status(code: Int(answer.status.code), reasonPhrase: answer.status.reasonPhrase)
        let answerLength = answer.headers.first(name: "content-length").flatMap(Int.init)
        let body = answer.body
        let reader = relay
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: answerLength) { writer in
            do {
                for try await part in body { try await writer.write(part) }
            } catch {
                await reader?.stop()
                throw error
            }
            // An answer sent before the whole body was (a 413, say): the rest of the body is not read for it.
            await reader?.stop()
            try await writer.finish(nil)
        })
    }

    /// Bodies up to this size are read whole before they are forwarded.
    static let wholeBody: Int64 = 4 << 20

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

/// A request body on its way to the leader: a task of its own is its only reader, and hands it to the HTTP client
/// through a buffer of a few parts (so a slow leader slows the upload down, and a fast client does not fill memory).
/// `stop()` ends the reader and waits for it: after it, nothing reads the body (the server may read the rest).
final class BodyRelay: Sendable {
    let pipe = BodyPipe()
    private let reader: Task<Void, Never>

    init(_ body: RequestBody) {
        let pipe = self.pipe
        reader = Task {
            do {
                for try await part in body {
                    guard await pipe.push(part) else { return }
                }
                await pipe.finish(nil)
            } catch {
                await pipe.finish(error)
            }
        }
    }

    var parts: Parts { Parts(pipe: pipe) }

    func stop() async {
        await pipe.close()
        reader.cancel()
        await reader.value
    }

    struct Parts: AsyncSequence, Sendable {
        let pipe: BodyPipe
        struct AsyncIterator: AsyncIteratorProtocol {
            let pipe: BodyPipe
            func next() async throws -> ByteBuffer? { try await pipe.next() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: pipe) }
    }
}

/// A few buffers between one producer and one consumer, each side waiting for the other when it must.
actor BodyPipe {
    private var parts: [ByteBuffer] = []
    private var ended = false
    private var failure: (any Error)?
    private var closed = false
    private var consumer: CheckedContinuation<ByteBuffer?, any Error>?
    private var producer: CheckedContinuation<Void, Never>?
    static let capacity = 4

    /// Hands a part on (waiting while the buffer is full); false once nobody reads any more.
    func push(_ part: ByteBuffer) async -> Bool {
        guard !closed else { return false }
        if let c = consumer {
            consumer = nil
            c.resume(returning: part)
            return true
        }
        parts.append(part)
        if parts.count >= Self.capacity { await withCheckedContinuation { producer = $0 } }
        return !closed
    }

    /// The body ended (or failed).
    func finish(_ error: (any Error)?) {
        ended = true
        failure = error
        guard let c = consumer else { return }
        consumer = nil
        if let error { c.resume(throwing: error) } else { c.resume(returning: nil) }
    }

    func next() async throws -> ByteBuffer? {
        if !parts.isEmpty {
            let part = parts.removeFirst()
            if let p = producer {
                producer = nil
                p.resume()
            }
            return part
        }
        if ended, let failure { throw failure }
        if ended || closed { return nil }
        return try await withCheckedThrowingContinuation { consumer = $0 }
    }

    /// Nobody reads any more: a waiting producer goes on (and stops), a waiting consumer gets the end.
    func close() {
        closed = true
        parts = []
        if let p = producer {
            producer = nil
            p.resume()
        }
        if let c = consumer {
            consumer = nil
            c.resume(returning: nil)
        }
    }
}

/// A follower's port: every request through `forwarder`.
public func buildFollowerApplication(host: String, port: Int, forwarder: LeaderForwarder, logger: Logger) -> some ApplicationProtocol {
    let responder = CallbackResponder<BasicRequestContext> { request, context in try await forwarder.respond(request, context: context) }
    return Application(responder: responder, configuration: .init(address: .hostname(host, port: port), serverName: "tarmac"), logger: logger)
}
