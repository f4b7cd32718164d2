import TarmacCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TarmacCredentials
import TarmacIdentity
import TarmacModel

/// What the gateway answers to one request.
struct Reply: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer

    static func problem(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:]) -> Reply {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? JSONSerialization.data(withJSONObject: ["error": ["code": Int(status.code), "message": message]])) ?? Data()
        return Reply(status: status, headers: h, body: ByteBuffer(bytes: body))
    }
}

extension ToolGateway {
    /// Answers one request of the gateway's port, on `loop`, once, through `answering`. When the token's signature was
    /// verified before (the usual case: an agent calls with the same token until it expires) every check runs right
    /// here, without a task, and the upstream call uses a connection of the same loop; only a first sight of a token
    /// verifies its signature in a task.
    public func respond(head: HTTPRequestHead, body: ByteBuffer, on loop: any EventLoop, to answering: Answering) {
        let started = authority.clock.elapsed
        let uri = head.uri
        let path: Substring, query: Substring?
        if let q = uri.firstIndex(of: "?") { (path, query) = (uri[..<q], uri[uri.index(after: q)...]) } else { (path, query) = (uri[...], nil) }
        let tools = tools()
        if path.hasPrefix("/.well-known/oauth-protected-resource/") {
            let name = String(path.dropFirst("/.well-known/oauth-protected-resource/".count))
            guard let tool = tools[name], tool.upstream != nil else { return answering.reply(.problem(.notFound, "no tool '\(name)' behind this gateway")) }
            return answering.reply(metadata(tool))
        }
        if path == "/healthz" { return answering.reply(Reply(status: .ok, headers: ["Content-Type": "text/plain"], body: ByteBuffer(string: "ok\n"))) }
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let first = segments.first, let tool = tools[String(first)], let upstream = tool.upstream else {
            let name = segments.first.map(String.init) ?? ""
            let served = tools.values.filter { $0.upstream != nil }.map(\.name)
            return answering.reply(.problem(.notFound, "no tool '\(name)' behind this gateway" + Suggestions.hint(for: name, in: served, noun: "tools")))
        }
        let rest = "/" + (segments.count > 1 ? String(segments[1]) : "")
        Call(gateway: self, tool: tool, upstream: upstream, rest: rest, query: query.map(String.init), head: head, body: body, loop: loop, started: started,
             answering: answering).run()
    }
}

/// One call through the gateway, checked in order: token, deny list, one-time use, rate, scope, then forwarded. Lives
/// on its agent connection's event loop and is answered once: in one piece (`finish`) or, for a stream of server-sent
/// events, passed on as it comes.
final class Call {
    let gateway: ToolGateway
    let tool: Tool
    let upstream: String
    let rest: String
    let query: String?
    let head: HTTPRequestHead
    let body: ByteBuffer
    let loop: any EventLoop
    /// When the request arrived, on the authority's clock (`elapsed`).
    let started: Duration
    private let answering: Answering
    /// Who the call is for, once its token verified: a person through an agent (`agent-for`) or an agent in its own
    /// name (`workload`). Named in the audit and, by kind, in metrics (`none` before).
    private var actor: AuditActor?
    private var actorKind: String { actor?.kind.rawValue ?? "none" }

    init(gateway: ToolGateway, tool: Tool, upstream: String, rest: String, query: String?, head: HTTPRequestHead, body: ByteBuffer, loop: any EventLoop,
         started: Duration, answering: Answering) {
        self.gateway = gateway
        self.tool = tool
        self.upstream = upstream
        self.rest = rest
        self.query = query
        self.head = head
        self.body = body
        self.loop = loop
        self.started = started
        self.answering = answering
    }

    private func finish(_ reply: Reply) {
        count(reply.status)
        answering.reply(reply)
    }

    private func count(_ status: HTTPResponseStatus) {
        gateway.counters.increment(tool: tool.name, status: Int(status.code), actorKind: actorKind)
    }

    var challenge: String { "Bearer resource_metadata=\"\(gateway.metadataURL(tool.name))\"" }

    /// Whether the call is for the tool's MCP endpoint: its refusals then come in MCP's error shape as well.
    var isMCP: Bool { tool.mcp.map { ToolAccess.matches(prefix: $0.path, path: rest) } ?? false }

    func unauthorized(_ why: String, reason: String = "invalid_token") -> Reply {
        let h: HTTPHeaders = ["WWW-Authenticate": challenge + ", error=\"invalid_token\", error_description=\"\(Self.quoted(why))\""]
        guard isMCP else { return .problem(.unauthorized, why, headers: h) }
        return Self.jsonrpc(.unauthorized, MCPMessage.error(id: nil, code: MCPMessage.refused, message: why, data: ["reason": reason, "tool": tool.name]), headers: h)
    }

    static func reason(_ r: TokenRejection) -> String {
        switch r {
        case .expired: "expired"
        case .audience: "wrong_audience"
        default: "invalid_token"
        }
    }

    static func jsonrpc(_ status: HTTPResponseStatus, _ body: Data, headers: HTTPHeaders = [:]) -> Reply {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Reply(status: status, headers: h, body: ByteBuffer(bytes: body))
    }

    /// A refusal for want of a scope or a grant: 403 with the scope in `WWW-Authenticate`; on the MCP endpoint a
    /// JSON-RPC error (code -32001) whose data says why (`reason`: not_granted, pending_approval, revoked, denied,
    /// ended, expired, unknown_tool, argument, no_route) with what applies (grant, approvers, at, by).
    func forbidden(_ why: String, scope: String?, claims: AccessTokenClaims, jsonrpcID: Any?? = nil, reason: String = "not_granted",
                   data: [String: String] = [:]) -> Reply {
        let h: HTTPHeaders = ["WWW-Authenticate": challenge + ", error=\"insufficient_scope\"" + (scope.map { ", scope=\"\(Self.quoted($0))\"" } ?? "")]
        audit(claims, status: 403, bytes: 0, detail: "refused: \(why)")
        guard isMCP else { return .problem(.forbidden, why, headers: h) }
        var d: [String: Any] = ["reason": reason, "tool": tool.name]
        if let scope { d["scope"] = scope }
        for (k, v) in data { d[k] = v }
        return Self.jsonrpc(.forbidden, MCPMessage.error(id: jsonrpcID ?? nil, code: MCPMessage.refused, message: why, data: d), headers: h)
    }

    /// Why a scope is not usable by this token now: not carried, or its grant not in force (pending, revoked, ...).
    func scopeRefusal(_ scope: String, claims: AccessTokenClaims, what: String, now: Date) -> (message: String, reason: String, data: [String: String]) {
        guard claims.scopes.contains(scope) else {
            return ("\(what) needs scope '\(scope)' of '\(tool.name)', which this token does not carry", "not_granted", [:])
        }
        if let why = gateway.authority.whyNotInForce(workload: claims.tarmac.wid, tool: tool.name, scope: scope, now: now) {
            return ("\(what) needs scope '\(scope)' of '\(tool.name)': \(why.message)", why.reason, why.data)
        }
        return ("\(what) needs scope '\(scope)' of '\(tool.name)'", "not_granted", [:])
    }

    /// The token after `Bearer `, without surrounding spaces (bytes: Foundation's trimming is slow on long strings).
    static func trimmed(_ bytes: Substring.UTF8View) -> String {
        var b = bytes
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        while let l = b.last, l == 0x20 || l == 0x09 { b = b.dropLast() }
        return String(Substring(b))
    }

    /// A text for a quoted-string of a header: no quotes, backslashes or control characters.
    static func quoted(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.compactMap { c -> Unicode.Scalar? in
            switch c.value {
            case 0x22: "'"
            case 0x5C: nil
            case 0..<0x20, 0x7F: " "
            default: c
            }
        }))
    }

    /// 1. The token: from the cache of verified tokens, or verified now in a task.
    func run() {
        guard let header = head.headers.first(name: "Authorization"), header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return finish(.problem(.unauthorized, "a bearer token for '\(tool.name)' is required: exchange your JWT-SVID at the token endpoint (RFC 8693)",
                                   headers: ["WWW-Authenticate": challenge]))
        }
        let token = Self.trimmed(header.utf8.dropFirst(7))
        let now = gateway.authority.now
        if let claims = gateway.verified.get(token, tool: tool.name, now: now) { return checks(claims, now: now) }
        let (authority, verified, toolName) = (gateway.authority, gateway.verified, tool.name)
        let promise = loop.makePromise(of: Result<AccessTokenClaims, TokenRejection>.self)
        promise.completeWithTask {
            do throws(TokenRejection) {
                let claims = try await authority.verifyAccess(token, tool: toolName, now: now)
                verified.put(token, tool: toolName, claims: claims)
                return .success(claims)
            } catch {
                return .failure(error)
            }
        }
        let call = NIOLoopBound(self, eventLoop: loop)
        promise.futureResult.whenSuccess { result in
            switch result {
            case .success(let claims): call.value.checks(claims, now: now)
            case .failure(let why): call.value.finish(call.value.unauthorized("\(why)", reason: Self.reason(why)))
            }
        }
    }

    /// 2–5: the deny list, one-time use, rates and scope; then 6, forwarded.
    func checks(_ claims: AccessTokenClaims, now: Date) {
        actor = CredentialAuthority.actor(of: claims)
        let authority = gateway.authority
        // 2. The deny list: the agent's attempt ended.
        if let why = authority.revocation(of: claims) { return finish(unauthorized(why)) }
        // 3. One-time tokens.
        if tool.oneTimeTokens && !authority.consume(jti: claims.jti, exp: claims.exp, now: now) {
            return finish(unauthorized("this token was already used; '\(tool.name)' accepts each token once"))
        }
        // 4. Rates, per agent and per person.
        if tool.rateLimit > 0 {
            let limiter = gateway.agentLimiters.limiter(rate: tool.rateLimit)
            let keys = ["agent:\(tool.name):\(claims.client_id)"] + (claims.act != nil ? ["person:\(tool.name):\(claims.sub)"] : [])
            for k in keys {
                if let wait = limiter.take(k) {
                    let secs = String(Int(wait.rounded(.up)))
                    return finish(.problem(.tooManyRequests, "too many calls to '\(tool.name)' for \(k.hasPrefix("agent") ? "this agent" : "this person"); retry in \(secs)s",
                                           headers: ["Retry-After": secs]))
                }
            }
        }
        // 5. The scope: a route's, or the MCP tool's (one rule lists and calls).
        let held = claims.scopes
        let toolName = tool.name
        let holds: (String) -> Bool = { s in held.contains(s) && authority.grantActive(workload: claims.tarmac.wid, tool: toolName, scope: s, now: now) }
        let method = head.method.rawValue
        guard let needed = ToolAccess.scope(of: tool, path: rest, method: method) else {
            return finish(forbidden("no route of '\(tool.name)' allows \(method) \(rest)", scope: nil, claims: claims, reason: "no_route"))
        }
        var parsed: MCPMessage.Parsed?
        var mcpDetail = ""
        if needed.isEmpty {
            // The MCP endpoint: the protocol version the client speaks, where it says, must be one the gateway reads.
            let version = head.headers.first(name: "MCP-Protocol-Version")
            if let v = version, !MCPMessage.supportedVersions.contains(v) {
                audit(claims, status: 400, bytes: 0, detail: "refused: unsupported MCP protocol version '\(v)'")
                return finish(Self.jsonrpc(.badRequest, MCPMessage.error(id: nil, code: MCPMessage.unsupportedVersion, message: "Unsupported protocol version",
                                                                         data: ["supported": MCPMessage.supportedVersions, "requested": v])))
            }
            if head.method == .POST {
                switch MCPMessage.parse(Data(body.readableBytesView)) {
                case .failure(let why):
                    audit(claims, status: 400, bytes: 0, detail: "refused: \(why.description)")
                    return finish(Self.jsonrpc(.badRequest, MCPMessage.error(id: nil, code: MCPMessage.invalidRequest, message: why.description)))
                case .success(let p):
                    if p.batch && !MCPMessage.allowsBatches(version: version) {
                        let why = "a batch of JSON-RPC messages is not part of MCP \(version ?? "")"
                        audit(claims, status: 400, bytes: 0, detail: "refused: \(why)")
                        return finish(Self.jsonrpc(.badRequest, MCPMessage.error(id: nil, code: MCPMessage.invalidRequest, message: why)))
                    }
                    parsed = p
                    mcpDetail = " " + (p.batch ? "[" : "") + p.messages.map(\.summary).joined(separator: ", ") + (p.batch ? "]" : "")
                    for m in p.messages {
                        guard case .request("tools/call", let name?, let arguments) = m.kind else { continue }
                        guard let rule = tool.mcp?.tools[name] else {
                            return finish(forbidden("tool '\(tool.name)' has no MCP tool '\(name)' in the platform contract", scope: nil, claims: claims,
                                                    jsonrpcID: .some(m.id), reason: "unknown_tool", data: ["mcpTool": name]))
                        }
                        guard holds(rule.scope) else {
                            let r = scopeRefusal(rule.scope, claims: claims, what: "MCP tool '\(name)'", now: now)
                            return finish(forbidden(r.message, scope: rule.scope, claims: claims, jsonrpcID: .some(m.id), reason: r.reason,
                                                    data: r.data.merging(["mcpTool": name]) { a, _ in a }))
                        }
                        if case .refused(let why) = ToolAccess.mcp(tool, name: name, arguments: arguments, holds: holds) {
                            return finish(forbidden(why, scope: rule.scope, claims: claims, jsonrpcID: .some(m.id), reason: "argument", data: ["mcpTool": name]))
                        }
                    }
                    // Every other message (requests, notifications, the client's answers to the tool's requests) needs
                    // a scope of the tool in force.
                    guard held.contains(where: holds) else {
                        return finish(forbidden("no scope of '\(tool.name)' is in force for this agent now", scope: nil, claims: claims,
                                                jsonrpcID: p.firstRequestID ?? nil, reason: "not_granted"))
                    }
                }
            } else if !held.contains(where: holds) {
                return finish(forbidden("no scope of '\(tool.name)' is in force for this agent now", scope: nil, claims: claims))
            }
        } else if !holds(needed) {
            let r = scopeRefusal(needed, claims: claims, what: "\(method) \(rest)", now: now)
            return finish(forbidden(r.message, scope: needed, claims: claims, reason: r.reason, data: r.data))
        }
        let detail = method + " " + rest + mcpDetail
        let mcp = needed.isEmpty
        let listing = parsed?.lists ?? false
        let keep: (String) -> Bool = { [tool] name in
            if case .allowed = ToolAccess.mcp(tool, name: name, arguments: nil, holds: holds) { return true }
            return false
        }
        // The answers the call waits for: a stream the agent closes once they went by is complete, not broken off.
        let awaited = parsed?.requestIDs ?? []
        forward(claims, stream: !listing && head.method != .HEAD, filter: mcp ? MCPEventFilter(keep: keep) : nil, awaited: awaited) { [self] result in
            switch result {
            case .success(let (status, headers, body)):
                var responseBody = body
                // A JSON answer that lists no tools is passed on untouched (the usual tools/call: no copy, no parse).
                if mcp && status == .ok && (listing || Self.isEventStream(headers)) {
                    let bytes = Data(responseBody.readableBytesView)
                    let filtered: (data: Data, unreadable: Int)?
                    if Self.isEventStream(headers) {
                        filtered = MCPEventFilter.filterWhole(bytes, keep: keep)
                    } else {
                        filtered = MCPMessage.filterJSON(bytes, keep: keep)
                    }
                    guard let filtered, !(listing && filtered.unreadable > 0) else {
                        // What cannot be read where a decision depends on it is not passed on.
                        let why = "the tool's answer to tools/list could not be read; it is not passed on unfiltered"
                        audit(claims, status: 502, bytes: 0, detail: "\(detail): \(why)")
                        return finish(Self.jsonrpc(.badGateway, MCPMessage.error(id: parsed?.firstRequestID ?? nil, code: -32603, message: why)))
                    }
                    responseBody = ByteBuffer(bytes: filtered.data)
                }
                audit(claims, status: Int(status.code), bytes: responseBody.readableBytes, detail: detail)
                finish(Reply(status: status, headers: headers, body: responseBody))
            case .failure(let error):
                audit(claims, status: 502, bytes: 0, detail: "\(detail): \(error)")
                finish(.problem(.badGateway, "\(error)"))
            }
        } ended: { [self] status, bytes, broken in
            audit(claims, status: Int(status.code), bytes: bytes, detail: detail + (broken.map { " (event stream, broken off: \($0))" } ?? " (event stream)"))
            count(status)
        }
    }

    struct UpstreamFailure: Error, CustomStringConvertible {
        var description: String
    }

    typealias Forwarded = Result<(HTTPResponseStatus, HTTPHeaders, ByteBuffer), UpstreamFailure>

    /// An answer being passed on as it comes.
    private struct Streamed {
        var status: HTTPResponseStatus
        var bytes = 0
        var filter: MCPEventFilter?
    }
    private var collected: UpstreamPool.Gathered?
    private var streamed: Streamed?

    /// 6. Forward, with the gateway's credential: plain HTTP on a keep-alive connection of this loop; HTTPS through
    /// AsyncHTTPClient. The answer's hop-by-hop headers are dropped. A successful answer of server-sent events from a
    /// plain-HTTP upstream is passed on as it comes when `stream` (MCP's streams of progress and notifications), and
    /// `ended` runs when it ends (with why, when broken off); any other answer is collected and given to `done`.
    /// Both run on the loop.
    func forward(_ claims: AccessTokenClaims, stream: Bool, filter: MCPEventFilter?, awaited: Set<String>, done: @escaping (Forwarded) -> Void,
                 ended: @escaping (HTTPResponseStatus, Int, String?) -> Void) {
        var outHeaders = HTTPHeaders()
        outHeaders.reserveCapacity(head.headers.count + 4)
        for (name, value) in head.headers where !Self.isDropped(name) { outHeaders.add(name: name, value: value) }
        switch gateway.credentials.value(for: tool) {
        case .failure(let why): return done(.failure(UpstreamFailure(description: why.description)))
        case .success(let cred?): outHeaders.add(name: "Authorization", value: "Bearer \(cred)")
        case .success(nil): break
        }
        outHeaders.add(name: "X-Tarmac-Agent", value: claims.client_id)
        if claims.act != nil { outHeaders.add(name: "X-Tarmac-Person", value: claims.sub) }
        let suffix = query.map { rest + "?" + $0 } ?? rest
        let toolName = tool.name
        if let target = gateway.upstreams.target(upstream) {
            outHeaders.add(name: "Host", value: target.hostHeader)
            if body.readableBytes > 0 || head.method == .POST || head.method == .PUT || head.method == .PATCH { outHeaders.add(name: "Content-Length", value: String(body.readableBytes)) }
            let out = HTTPRequestHead(version: .http1_1, method: head.method, uri: target.basePath + suffix, headers: outHeaders)
            gateway.pool.execute(on: loop, host: target.host, port: target.port, head: out, body: body.readableBytes > 0 ? body : nil, timeout: .seconds(120)) { [self] event in
                switch event {
                case .head(let h, let upstream):
                    if stream && h.status == .ok && Self.isEventStream(h.headers) {
                        streamed = Streamed(status: h.status, filter: filter)
                        answering.begin(h.status, Self.kept(h.headers), upstream: upstream)
                    } else {
                        collected = UpstreamPool.Gathered(head: h)
                    }
                case .body(var b):
                    if streamed != nil {
                        // On the MCP endpoint each event is read and written out again, its tools filtered.
                        if streamed!.filter != nil {
                            let out = streamed!.filter!.feed(b.readableBytesView)
                            guard !out.isEmpty else { return }
                            b = ByteBuffer(bytes: out)
                        }
                        streamed!.bytes += b.readableBytes
                        answering.part(b)
                    } else {
                        collected?.add(&b)
                    }
                case .end:
                    if let s = streamed {
                        ended(s.status, s.bytes, nil)
                        answering.end()
                    } else if let a = collected?.answer {
                        done(.success((a.head.status, Self.kept(a.head.headers), a.body)))
                    }
                case .failed(let error):
                    if let s = streamed {
                        // The answers the agent waited for went by: it (or the tool) ending the stream then is its end.
                        let complete = !awaited.isEmpty && awaited.isSubset(of: s.filter?.responses ?? [])
                        ended(s.status, s.bytes, complete ? nil : "\(error)")
                        answering.abort()
                    } else {
                        done(.failure(UpstreamFailure(description: "the tool '\(toolName)' could not be reached: \(error)")))
                    }
                }
            }
            return
        }
        var out = HTTPClientRequest(url: upstream.trimmingSuffix("/") + suffix)
        out.method = head.method
        out.headers = outHeaders
        if body.readableBytes > 0 { out.body = .bytes(body) }
        let client = gateway.client
        let request = out
        let promise = loop.makePromise(of: Forwarded.self)
        promise.completeWithTask {
            do {
                let r = try await client.execute(request, timeout: .seconds(120))
                return .success((r.status, Self.kept(r.headers), try await r.body.collect(upTo: 64 << 20)))
            } catch {
                return .failure(UpstreamFailure(description: "the tool '\(toolName)' could not be reached: \(error)"))
            }
        }
        let bound = NIOLoopBound(done, eventLoop: loop)
        promise.futureResult.whenSuccess { bound.value($0) }
    }

    static func isEventStream(_ headers: HTTPHeaders) -> Bool {
        headers.first(name: "Content-Type").map { $0.utf8.count >= 17 && $0.prefix(17).lowercased() == "text/event-stream" } ?? false
    }

    static func kept(_ headers: HTTPHeaders) -> HTTPHeaders {
        var h = HTTPHeaders()
        h.reserveCapacity(headers.count)
        for (name, value) in headers where !isDropped(name) { h.add(name: name, value: value) }
        return h
    }

    /// Hop-by-hop headers and the caller's credential never cross the gateway; the length is set again. Compared
    /// without case and without making a lowercased copy of each name.
    static func isDropped(_ name: String) -> Bool {
        let n = name.utf8
        return dropped.contains { d in
            d.utf8.count == n.count && zip(d.utf8, n).allSatisfy { lower, c in lower == ((c >= 0x41 && c <= 0x5A) ? c | 0x20 : c) }
        }
    }
    static let dropped = ["authorization", "host", "connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer",
                          "transfer-encoding", "upgrade", "content-length", "x-tarmac-agent", "x-tarmac-person"]

    /// One audit record per call: person → agent → tool, route, method, status, bytes, latency. Handed to the audit
    /// sink without holding the response.
    func audit(_ claims: AccessTokenClaims, status: Int, bytes: Int, detail: String) {
        let elapsed = gateway.authority.clock.since(started)
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        let draft = AuditDraft(time: gateway.authority.now, actor: actor ?? CredentialAuthority.actor(of: claims), action: status == 403 ? "tool-call-refused" : "tool-call",
                               object: "tool/\(tool.name)", detail: "\(detail) -> \(status), \(bytes) bytes, \((ms * 100).rounded() / 100) ms",
                               workload: claims.tarmac.wid)
        gateway.audit.add(draft)
        gateway.logger.debug("tool call", metadata: ["actor": "\(draft.actor)", "tool": "\(tool.name)", "status": "\(status)"])
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
