import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TarmacCore
import TarmacDelivery
import TarmacIdentity

/// The inference gateway: `/{team}/{service}/{path}` goes to a replica of one of the service's versions, chosen by the
/// route's weights (or kept to one version by a sticky header), round robin over that version's ready replicas. A call
/// must carry a token whose caller may read the team. Over the route's queue limit it answers 429 with `Retry-After`; a
/// replica that cannot be reached is left for another one once, for any method (the request was never sent); a
/// failure after sending is retried once only for idempotent methods. Every answer is measured (metrics, and the
/// samples rollouts analyse); no audit record per request.
/// Who calls a service: a person's (or service account's) API token, or a workload's JWT-SVID. A JWT-SVID names the
/// services it is for (`audiences`: `inference:TEAM/SERVICE`); an API token may call every service its holder may read.
public struct InferenceCaller: Sendable {
    public var principal: Principal
    /// nil: an API token; otherwise the token's audiences, one of which must name the service called.
    public var audiences: [String]?
    public init(principal: Principal, audiences: [String]? = nil) {
        self.principal = principal
        self.audiences = audiences
    }

    /// The audience a workload's JWT-SVID carries to call `TEAM/SERVICE` through the gateway.
    public static func audience(team: String, service: String) -> String { TokenExchange.serviceAudience(team: team, service: service) }
}

public struct InferenceGateway: GatewayResponder {
    public let routes: InferenceRoutes
    public let stats: InferenceStats
    /// Answers and tokens per serving workload, for the metering ledger.
    public let meter = InferenceMeter()
    let metrics = InferenceMetrics()
    let pool = UpstreamPool()
    let callers: CallerCache
    public let logger: Logger
    public let maxBody: Int
    let timeout: TimeAmount
    /// Services scaled to zero come back on their next request: `wake` is asked (team, service, caller) whether the
    /// service is starting from zero (it wakes it if it was at zero); if so the request waits up to `timeout` for a ready
    /// replica, then is answered 503 with `Retry-After`. nil: a service with no ready replica is answered 503 at once.
    public var coldStart: ColdStart?

    public struct ColdStart: Sendable {
        public var wake: @Sendable (_ team: String, _ service: String, _ caller: String) async -> Bool
        public var timeout: Duration
        public init(timeout: Duration = .seconds(60), wake: @escaping @Sendable (_ team: String, _ service: String, _ caller: String) async -> Bool) {
            self.wake = wake
            self.timeout = timeout
        }
    }

    /// `authenticate` checks a token (nil: not valid); answers are kept for `cacheFor` (a revoked token, or a workload's
    /// whose attempt ended, is refused at most that much later).
    public init(routes: InferenceRoutes, stats: InferenceStats = InferenceStats(), callers authenticate: @escaping @Sendable (String) async -> InferenceCaller?,
                cacheFor: Duration = .seconds(2), maxBody: Int = 8 << 20, timeout: TimeAmount = .seconds(300), logger: Logger) {
        self.routes = routes
        self.stats = stats
        self.callers = CallerCache(authenticate: authenticate, ttl: cacheFor)
        self.maxBody = maxBody
        self.timeout = timeout
        self.logger = logger
    }

    /// API tokens only.
    public init(routes: InferenceRoutes, stats: InferenceStats = InferenceStats(), authenticate: @escaping @Sendable (String) async -> Principal?,
                cacheFor: Duration = .seconds(2), maxBody: Int = 8 << 20, timeout: TimeAmount = .seconds(300), logger: Logger) {
        self.init(routes: routes, stats: stats, callers: { token in await authenticate(token).map { InferenceCaller(principal: $0) } },
                  cacheFor: cacheFor, maxBody: maxBody, timeout: timeout, logger: logger)
    }

    /// The header a request names a version with (`X-Tarmac-Version: 1.1.0`): it goes there whatever the shares.
    public static let versionHeader = "X-Tarmac-Version"

    public func respond(head: HTTPRequestHead, body: ByteBuffer, on loop: any EventLoop, to answering: Answering) {
        let uri = head.uri
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if path == "/healthz" { return answering.reply(Reply(status: .ok, headers: ["Content-Type": "text/plain"], body: ByteBuffer(string: "ok\n"))) }
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2 else {
            return answering.reply(.problem(.notFound, "call a service as /TEAM/SERVICE/PATH, e.g. /search/ranker/v1/completions"))
        }
        let team = String(parts[0]), service = String(parts[1])
        let rest = uri.dropFirst(1 + parts[0].utf8.count + 1 + parts[1].utf8.count)
        let target = rest.isEmpty ? "/" : (rest.first == "?" ? "/" + rest : String(rest))
        guard let header = head.headers.first(name: "Authorization"), header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            metrics.refused(team: team, service: service, status: 401)
            return answering.reply(.problem(.unauthorized, "a bearer token is required (an API token of Tarmac, or a workload's JWT-SVID for audience inference:\(team)/\(service))",
                                            headers: ["WWW-Authenticate": "Bearer realm=\"tarmac-inference\""]))
        }
        let token = Call.trimmed(header.utf8.dropFirst(7))
        let call = InferenceCall(gateway: self, team: team, service: service, target: target, head: head, body: body, loop: loop, answering: answering)
        if let p = callers.cached(token) { return call.authorized(p) }
        let promise = loop.makePromise(of: InferenceCaller?.self)
        let callers = callers
        promise.completeWithTask { await callers.resolve(token) }
        let bound = NIOLoopBound(call, eventLoop: loop)
        promise.futureResult.whenSuccess { p in
            guard let p else {
                return bound.value.refuse(.unauthorized, "the token is not valid (unknown, expired or revoked)",
                                              headers: ["WWW-Authenticate": "Bearer realm=\"tarmac-inference\", error=\"invalid_token\""])
            }
            bound.value.authorized(p)
        }
    }
}

/// Callers by token, for a short while: the token's hash lookup and expiry check are not paid on every request.
final class CallerCache: Sendable {
    let authenticate: @Sendable (String) async -> InferenceCaller?
    let ttl: Duration
    private let entries = Mutex<[String: (InferenceCaller, ContinuousClock.Instant)]>([:])

    init(authenticate: @escaping @Sendable (String) async -> InferenceCaller?, ttl: Duration) {
        self.authenticate = authenticate
        self.ttl = ttl
    }

    func cached(_ token: String) -> InferenceCaller? {
        entries.withLock { e in
            guard let (p, until) = e[token] else { return nil }
            if until < .now { e[token] = nil; return nil }
            return p
        }
    }

    func resolve(_ token: String) async -> InferenceCaller? {
        guard let p = await authenticate(token) else { return nil }
        let until = ContinuousClock.now + ttl
        entries.withLock { e in
            if e.count > 10_000 { e.removeAll(keepingCapacity: true) }
            e[token] = (p, until)
        }
        return p
    }
}

/// One request through the inference gateway, on its connection's loop.
final class InferenceCall {
    let gateway: InferenceGateway
    let team: String
    let service: String
    let target: String
    let head: HTTPRequestHead
    let body: ByteBuffer
    let loop: any EventLoop
    let answering: Answering
    let started = ContinuousClock.now
    var key: String { "\(team)/\(service)" }
    /// Who calls (for the audit record of a wake).
    var callerName = ""
    /// It waited for its service to start from zero already (it does once).
    var waitedForStart = false

    init(gateway: InferenceGateway, team: String, service: String, target: String, head: HTTPRequestHead, body: ByteBuffer, loop: any EventLoop,
         answering: Answering) {
        self.gateway = gateway
        self.team = team
        self.service = service
        self.target = target
        self.head = head
        self.body = body
        self.loop = loop
        self.answering = answering
    }

    func refuse(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:], fault: ServingFault? = nil) {
        gateway.metrics.refused(team: team, service: service, status: Int(status.code))
        if let fault {
            gateway.metrics.failed(nil, team: team, service: service, fault)
            gateway.stats.counted(service: key, fault)
        }
        answering.reply(.problem(status, message, headers: headers))
    }

    func authorized(_ caller: InferenceCaller) {
        let p = caller.principal
        callerName = p.name
        // Another team's service is answered like one that does not exist.
        guard p.canRead(team: team) else { return refuse(.notFound, "no service \(key) that \(p.name) may call") }
        // A workload's token is for the services it names.
        if let audiences = caller.audiences, !audiences.contains(InferenceCaller.audience(team: team, service: service)) {
            return refuse(.forbidden, "\(p.name)'s token is for \(audiences.joined(separator: ", ")), not \(key): ask for a JWT-SVID with audience "
                          + "\(InferenceCaller.audience(team: team, service: service)) (POST /v1/identity with \"audience\"), or an agent's access token for it (POST /v1/token, audience the same)")
        }
        // A request may ask for one version the service routes to, whatever its share (a blue-green rollout's preview).
        if let asked = head.headers.first(name: InferenceGateway.versionHeader) {
            guard let route = gateway.routes.route(key) else { return send(version: nil, avoiding: nil) }
            guard route.versions.contains(where: { $0.version == asked }) else {
                return refuse(.notFound, "\(key) does not route to version '\(asked)' (\(InferenceGateway.versionHeader)); it routes to "
                              + route.versions.map { "\($0.version) (\($0.weight)%)" }.joined(separator: ", "))
            }
            return send(version: asked, avoiding: nil)
        }
        send(version: nil, avoiding: nil)
    }

    var sticky: String? {
        guard let h = gateway.routes.route(key)?.stickyHeader else { return nil }
        return head.headers.first(name: h)
    }

    /// A retry (`avoiding` set) keeps to the version first chosen, on another replica.
    func send(version kept: String?, avoiding: InferenceRoute.Replica?) {
        let pick = gateway.routes.pick(key, sticky: sticky, version: kept, avoiding: avoiding)
        switch pick {
        case .noService, .noReplica:
            if let cold = gateway.coldStart, !waitedForStart { return startFromZero(cold, version: kept) }
        default: break
        }
        switch pick {
        case .noService:
            refuse(.notFound, "no service \(key) is running (tarmac list --kind InferenceService --team \(team))")
        case .overloaded(let limit):
            refuse(.tooManyRequests, "\(key) has \(limit) requests in flight, its limit: retry after a second", headers: ["Retry-After": "1"], fault: .overloaded)
        case .noReplica(let r):
            let versions = r.versions.map { "\($0.model)@\($0.version) (\($0.weight)%, \($0.replicas.count) ready)" }.joined(separator: ", ")
            refuse(.serviceUnavailable, "no ready replica of \(key) takes requests now: \(versions)", headers: ["Retry-After": "2"], fault: .noReplica)
        case .to(let version, let replica):
            forward(version, replica, retried: avoiding != nil)
        }
    }

    /// The service serves nothing now: if it is starting from zero (woken by this request, or by one before it), the
    /// request waits for a ready replica (not `gone`, the one that just refused it), off the event loop, up to the
    /// cold-start timeout; then it is sent, or answered 503 with `Retry-After`.
    func startFromZero(_ cold: InferenceGateway.ColdStart, version kept: String?, gone: InferenceRoute.Replica? = nil) {
        waitedForStart = true
        let (team, service, caller, key, routes) = (team, service, callerName, key, gateway.routes)
        let deadline = ContinuousClock.now + cold.timeout
        let promise = loop.makePromise(of: Bool?.self)
        promise.completeWithTask {
            guard await cold.wake(team, service, caller) else { return nil }
            while ContinuousClock.now < deadline {
                if routes.route(key)?.versions.contains(where: { $0.replicas.contains { $0 != gone } }) == true { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let seconds = Int(cold.timeout.components.seconds)
        promise.futureResult.whenSuccess { ready in
            let call = bound.value
            switch ready {
            case false?:
                call.refuse(.serviceUnavailable, "\(call.key) is starting from zero (it was scaled to zero while idle) and had no ready replica within \(seconds)s: retry shortly",
                            headers: ["Retry-After": "10"], fault: .noReplica)
            default:
                // Ready, or not starting from zero: sent, or refused as before.
                call.send(version: kept, avoiding: nil)
            }
        }
    }

    var idempotent: Bool {
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: true
        default: false
        }
    }

    func forward(_ version: InferenceRoute.Version, _ replica: InferenceRoute.Replica, retried: Bool) {
        let labels = InferenceMetrics.Labels(team: team, service: service, model: version.model, version: version.version)
        gateway.metrics.started(labels)
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 3)
        for (name, value) in head.headers where !Call.isDropped(name) { headers.add(name: name, value: value) }
        headers.add(name: "Host", value: "\(replica.host):\(replica.port)")
        headers.add(name: "X-Tarmac-Model-Version", value: "\(version.model)@\(version.version)")
        if body.readableBytes > 0 || head.method == .POST || head.method == .PUT || head.method == .PATCH {
            headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        let out = HTTPRequestHead(version: .http1_1, method: head.method, uri: target, headers: headers)
        var streamedBytes = 0
        var firstPart: Double?
        var collected: UpstreamPool.Gathered?
        var streamedStatus: HTTPResponseStatus?
        var usage = UsageScanner()
        gateway.pool.execute(on: loop, host: replica.host, port: replica.port, head: out, body: body.readableBytes > 0 ? body : nil,
                             timeout: gateway.timeout) { [self] event in
            switch event {
            case .head(let h, let upstream):
                if Call.isEventStream(h.headers) {
                    streamedStatus = h.status
                    answering.begin(h.status, Call.kept(h.headers).adding(version: version), upstream: upstream)
                } else {
                    collected = UpstreamPool.Gathered(head: h)
                }
            case .body(var b):
                if streamedStatus != nil {
                    if firstPart == nil { firstPart = elapsed }
                    streamedBytes += b.readableBytes
                    usage.feed(b.readableBytesView)
                    answering.part(b)
                } else {
                    collected?.add(&b)
                }
            case .end:
                if let status = streamedStatus {
                    finished(labels, version, status: Int(status.code), ttft: firstPart, usage: usage.found)
                    answering.end()
                } else if let a = collected?.answer {
                    finished(labels, version, status: Int(a.head.status.code), ttft: nil, usage: UsageScanner.usage(json: a.body.readableBytesView))
                    answering.reply(Reply(status: a.head.status, headers: Call.kept(a.head.headers).adding(version: version), body: a.body))
                }
            case .failed(let f):
                if streamedStatus != nil {
                    finished(labels, version, status: 502, ttft: firstPart, usage: usage.found, fault: .modelNoAnswer)
                    return answering.abort()
                }
                gateway.routes.done(key)
                gateway.metrics.answered(labels, status: 502, seconds: 0, ttftSeconds: nil, promptTokens: nil, completionTokens: nil)
                if !retried && (f.notSent || (f.beforeAnswer && idempotent)) {
                    return send(version: version.version, avoiding: replica)
                }
                // Its replicas are gone (a service scaled to zero a moment ago, before the routes caught up): it may be
                // starting from zero.
                if f.notSent, let cold = gateway.coldStart, !waitedForStart { return startFromZero(cold, version: nil, gone: replica) }
                let fault: ServingFault = f.notSent ? .unreachable : .modelNoAnswer
                gateway.metrics.failed(labels, team: team, service: service, fault)
                gateway.stats.record(service: key, version: version.version, status: 502, latencyMs: elapsed * 1000, ttftMs: nil, fault: fault)
                answering.reply(.problem(.badGateway, "\(version.model)@\(version.version) of \(key) at \(replica.host):\(replica.port) did not answer: \(f.description)"))
            }
        }
    }

    var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// An answer came to its end (or broke off: `fault`). A 5xx the model server gave is the model's side.
    func finished(_ labels: InferenceMetrics.Labels, _ version: InferenceRoute.Version, status: Int, ttft: Double?, usage: (prompt: Int, completion: Int)?,
                  fault: ServingFault? = nil) {
        gateway.routes.done(key)
        let seconds = elapsed
        let fault = fault ?? (status >= 500 ? .modelError : nil)
        gateway.metrics.answered(labels, status: status, seconds: seconds, ttftSeconds: ttft, promptTokens: usage?.prompt, completionTokens: usage?.completion)
        if let w = version.workload { gateway.meter.record(w, promptTokens: usage?.prompt, completionTokens: usage?.completion) }
        if let fault { gateway.metrics.failed(labels, team: team, service: service, fault) }
        gateway.stats.record(service: key, version: version.version, status: status, latencyMs: seconds * 1000, ttftMs: ttft.map { $0 * 1000 }, fault: fault)
    }
}

extension HTTPHeaders {
    /// Which version answered, for the caller (and for tests that count shares).
    func adding(version v: InferenceRoute.Version) -> HTTPHeaders {
        var h = self
        h.replaceOrAdd(name: "X-Tarmac-Model-Version", value: "\(v.model)@\(v.version)")
        return h
    }
}

/// Finds OpenAI-compatible `usage` (prompt and completion tokens) in an answer: a JSON body, or the `data:` events of a
/// stream (the last chunk carries it when the caller asked for `stream_options.include_usage`).
struct UsageScanner {
    static let dataPrefix = Array("data: ".utf8)
    private var line: [UInt8] = []
    private(set) var found: (prompt: Int, completion: Int)?

    mutating func feed(_ bytes: some Sequence<UInt8>) {
        for b in bytes {
            if b == 0x0A {
                if line.count > 6, line.starts(with: Self.dataPrefix), let u = Self.usage(json: line.dropFirst(6)) { found = u }
                line.removeAll(keepingCapacity: true)
            } else if line.count < 1 << 16 {
                line.append(b)
            }
        }
    }

    /// The numbers after `"prompt_tokens":` and `"completion_tokens":` once `"usage"` appears, read from the bytes
    /// without parsing the whole answer (a gateway reads every answer; a JSON parse cost more than the rest of the call).
    static func usage(json bytes: some Collection<UInt8>) -> (prompt: Int, completion: Int)? {
        let b = Array(bytes)
        guard let u = find(Array(#""usage""#.utf8), in: b, from: 0) else { return nil }
        let prompt = number(after: Array(#""prompt_tokens""#.utf8), in: b, from: u)
        let completion = number(after: Array(#""completion_tokens""#.utf8), in: b, from: u)
        guard prompt != nil || completion != nil else { return nil }
        return (prompt ?? 0, completion ?? 0)
    }

    static func find(_ needle: [UInt8], in b: [UInt8], from start: Int) -> Int? {
        guard needle.count <= b.count else { return nil }
        var i = start
        while i + needle.count <= b.count {
            if b[i] == needle[0] && b[i..<(i + needle.count)].elementsEqual(needle) { return i + needle.count }
            i += 1
        }
        return nil
    }

    static func number(after key: [UInt8], in b: [UInt8], from start: Int) -> Int? {
        guard var i = find(key, in: b, from: start) else { return nil }
        while i < b.count, b[i] == 0x20 || b[i] == 0x3A || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        var n = 0, digits = 0
        while i < b.count, (0x30...0x39).contains(b[i]), digits < 18 {
            n = n * 10 + Int(b[i] - 0x30)
            digits += 1
            i += 1
        }
        return digits > 0 ? n : nil
    }
}
