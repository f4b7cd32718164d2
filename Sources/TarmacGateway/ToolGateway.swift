import TarmacCore
import AsyncHTTPClient
import Foundation
import Synchronization
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import TarmacCredentials
import TarmacIdentity
import TarmacModel

/// The tool gateway: `/{tool}/{path}` is forwarded to the tool's upstream when the call's token is for that tool,
/// verifies, is not revoked, carries the scope the route (or the MCP tool) needs, and is within the rate limits. The
/// upstream gets the gateway's own credential, never the caller's token. Every call is audited as
/// person → agent → tool.
public struct ToolGateway: GatewayResponder {
    public struct Configuration: Sendable {
        /// Where agents reach the gateway (for resource metadata and challenges).
        public var publicURL: String
        public var maxBody: Int
        public init(publicURL: String, maxBody: Int = 1 << 20) {
            self.publicURL = publicURL
            self.maxBody = maxBody
        }
    }

    let authority: CredentialAuthority
    let tools: @Sendable () -> [String: Tool]
    /// Where each call's audit record goes; run it as a service beside the gateway.
    public let audit: AuditSink
    let client: HTTPClient
    /// The gateway's own credentials for upstreams; run it as a service beside the gateway.
    public let credentials: UpstreamCredentials
    let config: Configuration
    let verified = VerifiedTokens()
    let agentLimiters: LimiterSet
    let counters = Counters()
    let pool = UpstreamPool()
    let upstreams = Upstreams()
    public let logger: Logger
    public var maxBody: Int { config.maxBody }

    public init(authority: CredentialAuthority, tools: @escaping @Sendable () -> [String: Tool], store: any Store, client: HTTPClient,
                credentials: UpstreamCredentials, config: Configuration, logger: Logger) {
        self.authority = authority
        self.credentials = credentials
        self.tools = tools
        self.audit = AuditSink(store: store, logger: logger)
        self.client = client
        self.config = config
        self.agentLimiters = LimiterSet()
        self.logger = logger
    }

    /// The gateway's HTTP client: enough connections per upstream for many concurrent agents.
    public static func makeClient() -> HTTPClient {
        var c = HTTPClient.Configuration()
        c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        c.timeout = .init(connect: .seconds(5), read: .seconds(120))
        c.redirectConfiguration = .disallow
        c.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }

    /// RFC 9728 protected-resource metadata of one tool.
    func metadata(_ tool: Tool) -> Reply {
        struct Metadata: Encodable {
            var resource: String
            var authorization_servers: [String]
            var scopes_supported: [String]
            var bearer_methods_supported: [String]
            var resource_name: String
        }
        let m = Metadata(resource: resource(tool.name), authorization_servers: [authority.issuer], scopes_supported: tool.scopes,
                         bearer_methods_supported: ["header"], resource_name: tool.description ?? tool.name)
        guard let json = try? JSONEncoder().encode(m) else { return .problem(.internalServerError, "the metadata of '\(tool.name)' could not be encoded") }
        return Reply(status: .ok, headers: ["Content-Type": "application/json"], body: ByteBuffer(bytes: json))
    }

    func resource(_ tool: String) -> String { config.publicURL + "/" + tool }
    func metadataURL(_ tool: String) -> String { config.publicURL + "/.well-known/oauth-protected-resource/" + tool }
}

/// Parsed plain-HTTP upstream addresses (host, port, path prefix), by URL.
final class Upstreams: Sendable {
    struct Target: Sendable {
        var host: String
        var port: Int
        var basePath: String
        var hostHeader: String
    }

    private let parsed = Mutex<[String: Target?]>([:])

    /// Nil for anything but http:// (those go through AsyncHTTPClient).
    func target(_ url: String) -> Target? {
        if let hit = parsed.withLock({ $0[url] }) { return hit }
        var t: Target?
        if let u = URLComponents(string: url), u.scheme == "http", let host = u.host, !host.isEmpty {
            let port = u.port ?? 80
            let path = u.path.hasSuffix("/") ? String(u.path.dropLast()) : u.path
            t = Target(host: host, port: port, basePath: path, hostHeader: u.port == nil ? host : "\(host):\(port)")
        }
        parsed.withLock { $0[url] = .some(t) }
        return t
    }
}

/// `tarmac_gateway_requests_total` by tool, status and actor kind (`agent-for`, `workload`, `none`), made once each.
final class Counters: Sendable {
    private struct Key: Hashable {
        var tool: String
        var status: Int
        var actorKind: String
    }

    private let made = Mutex<[Key: Counter]>([:])
    func increment(tool: String, status: Int, actorKind: String) {
        let key = Key(tool: tool, status: status, actorKind: actorKind)
        let c = made.withLock { m in
            if let c = m[key] { return c }
            let c = Counter(label: "tarmac_gateway_requests_total", dimensions: [("tool", tool), ("status", String(status)), ("actor_kind", actorKind)])
            m[key] = c
            return c
        }
        c.increment()
    }
}

/// Several token buckets keyed by agent and by person, each with its tool's rate.
final class LimiterSet: Sendable {
    private let limiters = Mutex<[Double: RateLimiter<ContinuousClock>]>([:])
    func limiter(rate: Double) -> RateLimiter<ContinuousClock> {
        limiters.withLock { l in
            if let r = l[rate] { return r }
            let r = RateLimiter(rate: rate, burst: max(1, rate))
            l[rate] = r
            return r
        }
    }
}

