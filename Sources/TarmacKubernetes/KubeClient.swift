import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// An API error: the HTTP status and the server's `Status` reason and message.
public struct KubeError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var path: String

    public var isConflict: Bool { code == 409 }
    public var isGone: Bool { code == 410 }
    public var isNotFound: Bool { code == 404 }
    public var description: String { "\(path): \(code) \(reason): \(message)" }
}

/// How the client retries: 429 and 5xx (and connection failures) with exponential backoff and full jitter, honouring
/// Retry-After; every request has a timeout.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var base: Duration
    public var cap: Duration
    public var timeout: Duration

    public init(attempts: Int = 6, base: Duration = .milliseconds(200), cap: Duration = .seconds(10), timeout: Duration = .seconds(30)) {
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.timeout = timeout
    }

    /// The wait before retry number `n` (1-based): Retry-After when the server gave one (capped), else a random share
    /// of base × 2^(n-1), capped.
    public func delay(retry n: Int, retryAfter: Double?) -> Duration {
        if let r = retryAfter { return min(cap, .milliseconds(Int64(max(0, r) * 1000))) }
        let ceiling = min(cap, base * (1 << min(20, n - 1)))
        let ms = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(1, ms)))
    }
}

/// A Kubernetes REST client on AsyncHTTPClient: JSON in and out, server-side apply with field manager `tarmac`, status
/// subresource updates, and retries per `RetryPolicy`. Secrets never reach a log line: requests are logged by method and
/// path only.
public final class KubeClient: Sendable {
    public let access: ClusterAccess
    public let retry: RetryPolicy
    public static let fieldManager = "tarmac"
    let http: HTTPClient
    let logger: Logger
    let counter = RequestCounter()

    public init(_ access: ClusterAccess, retry: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "tarmac.kubernetes")) throws {
        self.access = access
        self.retry = retry
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = access.caPEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca)))
        }
        if access.insecureSkipTLSVerify { tls.certificateVerification = .none }
        if let cert = access.clientCertificatePEM, let key = access.clientKeyPEM {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(cert)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key), format: .pem))
        }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: .seconds(10))
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    deinit { try? http.syncShutdown() }

    /// Requests sent so far (for the reconcile benchmark: requests per workload).
    public var requests: Int { counter.value }

    // MARK: verbs

    public func get(_ path: String) async throws -> [String: Any] { try await json(.GET, path) }

    public func list(_ path: String) async throws -> (items: [[String: Any]], resourceVersion: String) {
        let o = try await json(.GET, path)
        return (o["items"] as? [[String: Any]] ?? [], (o["metadata"] as? [String: Any])?["resourceVersion"] as? String ?? "")
    }

    public func create(_ path: String, _ object: [String: Any]) async throws -> [String: Any] {
        try await json(.POST, path, body: try JSONSerialization.data(withJSONObject: object), contentType: "application/json")
    }

    /// Server-side apply (`application/apply-patch+yaml`; JSON is YAML) as field manager `tarmac`, forcing conflicts:
    /// Tarmac owns the fields it renders.
    public func apply(_ path: String, _ object: [String: Any], force: Bool = true) async throws -> [String: Any] {
        let q = "fieldManager=\(Self.fieldManager)\(force ? "&force=true" : "")"
        return try await json(.PATCH, path + (path.contains("?") ? "&" : "?") + q, body: try Self.applyBody(object),
                              contentType: "application/apply-patch+yaml")
    }

    /// An apply body: JSON, which is YAML as long as no `/` is escaped (`\/` is JSON but not YAML 1.1, which the API
    /// server's decoder reads, and every `tarmac.dev/...` key has a slash).
    public static func applyBody(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes, .sortedKeys])
    }

    /// A JSON merge patch (`application/merge-patch+json`) as field manager `tarmac`: for flipping one field (suspend, replicas)
    /// without restating the object.
    public func mergePatch(_ path: String, _ patch: [String: Any]) async throws -> [String: Any] {
        try await mergePatch(path, body: try JSONSerialization.data(withJSONObject: patch))
    }

    /// A JSON merge patch already encoded.
    public func mergePatch(_ path: String, body: Data) async throws -> [String: Any] {
        try await json(.PATCH, path + (path.contains("?") ? "&" : "?") + "fieldManager=\(Self.fieldManager)", body: body, contentType: "application/merge-patch+json")
    }

    /// A GET whose body is not JSON (a pod's log).
    public func raw(_ path: String) async throws -> Data {
        try await send(.GET, path, body: nil, contentType: nil).1
    }

    /// One GET, not retried, within `timeout`: for what is worth trying once but not worth waiting for (a log a
    /// kubelet may not serve).
    public func rawOnce(_ path: String, timeout: Duration) async throws -> Data {
        let resp = try await execute(.GET, path, body: nil, contentType: nil, timeout: timeout)
        let data = Data(try await resp.body.collect(upTo: 64 << 20).readableBytesView)
        let code = Int(resp.status.code)
        guard (200..<300).contains(code) else { throw Self.error(code, data, path) }
        return data
    }

    /// Replaces an object (`PUT`); a stale `metadata.resourceVersion` gets 409 (optimistic concurrency).
    public func replace(_ path: String, _ object: [String: Any]) async throws -> [String: Any] {
        try await json(.PUT, path, body: try JSONSerialization.data(withJSONObject: object), contentType: "application/json")
    }

    /// Replaces the status subresource (`PUT .../status`); a stale resourceVersion gets 409.
    public func updateStatus(_ path: String, _ object: [String: Any]) async throws -> [String: Any] {
        try await json(.PUT, path + "/status", body: try JSONSerialization.data(withJSONObject: object), contentType: "application/json")
    }

    /// Deletes with a propagation policy (Background: dependents go too). A missing object is not an error.
    public func delete(_ path: String, propagation: String = "Background") async throws {
        let body = try JSONSerialization.data(withJSONObject: ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation])
        do {
            _ = try await json(.DELETE, path, body: body, contentType: "application/json")
        } catch let e as KubeError where e.isNotFound {}
    }

    // MARK: transport

    func json(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil) async throws -> [String: Any] {
        let (_, data) = try await send(method, path, body: body, contentType: contentType)
        guard !data.isEmpty else { return [:] }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// One request with retries; returns the status and body of a 2xx, throws `KubeError` otherwise.
    func send(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String?) async throws -> (Int, Data) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let resp = try await execute(method, path, body: body, contentType: contentType, timeout: retry.timeout)
                let data = Data(try await resp.body.collect(upTo: 64 << 20).readableBytesView)
                let code = Int(resp.status.code)
                if (200..<300).contains(code) { return (code, data) }
                let error = Self.error(code, data, path)
                guard code == 429 || code >= 500, attempt < retry.attempts else { throw error }
                let after = resp.headers.first(name: "Retry-After").flatMap(Double.init)
                let wait = retry.delay(retry: attempt, retryAfter: after)
                logger.notice("retrying", metadata: ["method": "\(method.rawValue)", "path": "\(path)", "status": "\(code)", "in": "\(wait)"])
                try await Task.sleep(for: wait)
            } catch let e as KubeError {
                throw e
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard attempt < retry.attempts else { throw error }
                let wait = retry.delay(retry: attempt, retryAfter: nil)
                logger.notice("retrying after a transport error", metadata: ["method": "\(method.rawValue)", "path": "\(path)", "error": "\(type(of: error))"])
                try await Task.sleep(for: wait)
            }
        }
    }

    func execute(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String?, timeout: Duration) async throws -> HTTPClientResponse {
        var req = HTTPClientRequest(url: access.server + path)
        req.method = method
        req.headers.add(name: "Accept", value: "application/json, */*")
        req.headers.add(name: "User-Agent", value: "tarmac")
        if let t = access.token { req.headers.add(name: "Authorization", value: "Bearer \(t)") }
        if let contentType { req.headers.add(name: "Content-Type", value: contentType) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        counter.increment()
        return try await http.execute(req, timeout: .nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
    }

    static func error(_ code: Int, _ data: Data, _ path: String) -> KubeError {
        let o = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return KubeError(code: code, reason: o["reason"] as? String ?? HTTPResponseStatus(statusCode: code).reasonPhrase,
                         message: o["message"] as? String ?? String(decoding: data.prefix(300), as: UTF8.self), path: path)
    }
}

final class RequestCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
