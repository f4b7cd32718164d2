import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TarmacCredentials
import TarmacIdentity
import TarmacModel
import TarmacRuntime

/// What the gateway answers to one request.
struct Reply: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// Who the call was for, once its token verified: `agent-for` (a person through an agent) or `workload` (an agent
    /// in its own name); `none` before (metrics label).
    var actorKind = "none"

    static func problem(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:]) -> Reply {
        var h = headers
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? JSONSerialization.data(withJSONObject: ["error": ["code": Int(status.code), "message": message]])) ?? Data()
        return Reply(status: status, headers: h, body: ByteBuffer(bytes: body))
    }
}

extension ToolGateway {
    /// Answers one request of the gateway's port, on `loop`. When the token's signature was verified before (the usual
    /// case: an agent calls with the same token until it expires) every check runs right here, without a task, and the
    /// upstream call uses a connection of the same loop; only a first sight of a token verifies its signature in a task.
    func respond(head: HTTPRequestHead, body: ByteBuffer, on loop: any EventLoop) -> EventLoopFuture<Reply> {
        let started = ContinuousClock.now
        let uri = head.uri
        let path: Substring, query: Substring?
        if let q = uri.firstIndex(of: "?") { (path, query) = (uri[..<q], uri[uri.index(after: q)...]) } else { (path, query) = (uri[...], nil) }
        let tools = tools()
        if path.hasPrefix("/.well-known/oauth-protected-resource/") {
            let name = String(path.dropFirst("/.well-known/oauth-protected-resource/".count))
            guard let tool = tools[name], tool.upstream != nil else { return loop.makeSucceededFuture(.problem(.notFound, "no tool '\(name)' behind this gateway")) }
            return loop.makeSucceededFuture(metadata(tool))
        }
        if path == "/healthz" { return loop.makeSucceededFuture(Reply(status: .ok, headers: ["Content-Type": "text/plain"], body: ByteBuffer(string: "ok\n"))) }
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let first = segments.first, let tool = tools[String(first)], let upstream = tool.upstream else {
            let name = segments.first.map(String.init) ?? ""
            let served = tools.values.filter { $0.upstream != nil }.map(\.name)
            return loop.makeSucceededFuture(.problem(.notFound, "no tool '\(name)' behind this gateway" + Suggestions.hint(for: name, in: served, noun: "tools")))
        }
        let rest = "/" + (segments.count > 1 ? String(segments[1]) : "")
        let call = Call(gateway: self, tool: tool, upstream: upstream, rest: rest, query: query.map(String.init), head: head, body: body, loop: loop, started: started)
        return call.run().map { reply in
            self.counters.increment(tool: tool.name, status: Int(reply.status.code), actorKind: reply.actorKind)
            return reply
        }
    }
}

/// One call through the gateway, checked in order: token, deny list, one-time use, rate, scope, then forwarded.
struct Call: Sendable {
    let gateway: ToolGateway
    let tool: Tool
    let upstream: String
    let rest: String
    let query: String?
    let head: HTTPRequestHead
    let body: ByteBuffer
    let loop: any EventLoop
    let started: ContinuousClock.Instant

    var challenge: String { "Bearer resource_metadata=\"\(gateway.metadataURL(tool.name))\"" }

    func unauthorized(_ why: String) -> Reply {
        .problem(.unauthorized, why, headers: ["WWW-Authenticate": challenge + ", error=\"invalid_token\", error_description=\"\(Self.quoted(why))\""])
    }

    func forbidden(_ why: String, scope: String?, claims: AccessTokenClaims, jsonrpcID: Any?? = nil) -> Reply {
        var h: HTTPHeaders = ["WWW-Authenticate": challenge + ", error=\"insufficient_scope\"" + (scope.map { ", scope=\"\($0)\"" } ?? "")]
        audit(claims, status: 403, bytes: 0, detail: "refused: \(why)")
        guard let id = jsonrpcID else { return .problem(.forbidden, why, headers: h) }
        h.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Reply(status: .forbidden, headers: h, body: ByteBuffer(bytes: MCPMessage.error(id: id, code: -32001, message: why)))
    }

    /// The token after `Bearer `, without surrounding spaces (bytes: Foundation's trimming is slow on long strings).
    static func trimmed(_ bytes: Substring.UTF8View) -> String {
        var b = bytes
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        while let l = b.last, l == 0x20 || l == 0x09 { b = b.dropLast() }
        return String(Substring(b))
    }

    static func quoted(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: "'") }

    /// 1. The token: from the cache of verified tokens, or verified now in a task.
    func run() -> EventLoopFuture<Reply> {
        guard let header = head.headers.first(name: "Authorization"), header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return loop.makeSucceededFuture(.problem(.unauthorized, "a bearer token for '\(tool.name)' is required: exchange your JWT-SVID at the token endpoint (RFC 8693)",
                                                     headers: ["WWW-Authenticate": challenge]))
        }
        let token = Self.trimmed(header.utf8.dropFirst(7))
        let now = gateway.authority.now
        if let claims = gateway.verified.get(token, tool: tool.name, now: now) { return checked(claims, now: now) }
        let promise = loop.makePromise(of: Reply.self)
        promise.completeWithTask {
            let claims: AccessTokenClaims
            do {
                claims = try await gateway.authority.verifyAccess(token, tool: tool.name, now: now)
            } catch {
                return unauthorized("\(error)")
            }
            gateway.verified.put(token, tool: tool.name, claims: claims)
            return try await checked(claims, now: now).get()
        }
        return promise.futureResult
    }

    /// 2–6 for a verified token, the answer labelled with the kind of actor it was for.
    func checked(_ claims: AccessTokenClaims, now: Date) -> EventLoopFuture<Reply> {
        let kind = CredentialAuthority.actor(of: claims).kind.rawValue
        return checks(claims, now: now).map { reply in
            var r = reply
            r.actorKind = kind
            return r
        }
    }

    /// 2–5: the deny list, one-time use, rates and scope; then 6, forwarded.
    func checks(_ claims: AccessTokenClaims, now: Date) -> EventLoopFuture<Reply> {
        let authority = gateway.authority
        // 2. The deny list: the agent's attempt ended.
        if let why = authority.revocation(of: claims) { return loop.makeSucceededFuture(unauthorized(why)) }
        // 3. One-time tokens.
        if tool.oneTimeTokens && !authority.consume(jti: claims.jti, exp: claims.exp, now: now) {
            return loop.makeSucceededFuture(unauthorized("this token was already used; '\(tool.name)' accepts each token once"))
        }
        // 4. Rates, per agent and per person.
        if tool.rateLimit > 0 {
            let limiter = gateway.agentLimiters.limiter(rate: tool.rateLimit)
            let keys = ["agent:\(tool.name):\(claims.client_id)"] + (claims.act != nil ? ["person:\(tool.name):\(claims.sub)"] : [])
            for k in keys {
                if let wait = limiter.take(k) {
                    let secs = String(Int(wait.rounded(.up)))
                    return loop.makeSucceededFuture(.problem(.tooManyRequests, "too many calls to '\(tool.name)' for \(k.hasPrefix("agent") ? "this agent" : "this person"); retry in \(secs)s",
                                                             headers: ["Retry-After": secs]))
                }
            }
        }
        // 5. The scope: a route's, or the MCP tool's (one rule lists and calls).
        let held = Set(claims.scopes)
        let toolName = tool.name
        let holds: @Sendable (String) -> Bool = { s in held.contains(s) && authority.grantActive(workload: claims.tarmac.wid, tool: toolName, scope: s, now: now) }
        let method = head.method.rawValue
        guard let needed = ToolAccess.scope(of: tool, path: rest, method: method) else {
            return loop.makeSucceededFuture(forbidden("no route of '\(tool.name)' allows \(method) \(rest)", scope: nil, claims: claims))
        }
        var listing = false
        var mcpDetail = ""
        if needed.isEmpty {
            // The MCP endpoint.
            if head.method == .POST {
                switch MCPMessage.parse(Data(body.readableBytesView)) {
                case .failure(let why):
                    return loop.makeSucceededFuture(.problem(.badRequest, why.description))
                case .success(let m):
                    mcpDetail = " \(m.method)\(m.toolName.map { " \($0)" } ?? "")"
                    if m.method == "tools/call" {
                        if case .refused(let why) = ToolAccess.mcp(tool, name: m.toolName ?? "", arguments: m.arguments, holds: holds) {
                            return loop.makeSucceededFuture(forbidden(why, scope: tool.mcp?.tools[m.toolName ?? ""]?.scope, claims: claims, jsonrpcID: .some(m.id)))
                        }
                    } else {
                        listing = m.method == "tools/list"
                        guard held.contains(where: holds) else {
                            return loop.makeSucceededFuture(forbidden("no scope of '\(tool.name)' is granted to this agent now", scope: nil, claims: claims, jsonrpcID: .some(m.id)))
                        }
                    }
                }
            } else if !held.contains(where: holds) {
                return loop.makeSucceededFuture(forbidden("no scope of '\(tool.name)' is granted to this agent now", scope: nil, claims: claims))
            }
        } else if !holds(needed) {
            let why = held.contains(needed) ? "the grant of \(tool.name):\(needed) is no longer in force" : "the token does not carry scope '\(needed)'"
            return loop.makeSucceededFuture(forbidden(why, scope: needed, claims: claims))
        }
        let detail = method + " " + rest + mcpDetail
        let filter = listing
        return forward(claims, detail: detail).map { answer in
            var (status, headers, responseBody) = answer
            if filter && status == .ok {
                let stream = headers.first(name: "Content-Type")?.lowercased().hasPrefix("text/event-stream") ?? false
                let filtered = MCPMessage.filterToolsList(Data(responseBody.readableBytesView), eventStream: stream) { name in
                    if case .allowed = ToolAccess.mcp(tool, name: name, arguments: nil, holds: holds) { return true }
                    return false
                }
                responseBody = ByteBuffer(bytes: filtered)
            }
            audit(claims, status: Int(status.code), bytes: responseBody.readableBytes, detail: detail)
            return Reply(status: status, headers: headers, body: responseBody)
        }.recover { error in
            audit(claims, status: 502, bytes: 0, detail: "\(detail): \(error)")
            return .problem(.badGateway, "\(error)")
        }
    }

    struct UpstreamFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// 6. Forward, with the gateway's credential: plain HTTP on a keep-alive connection of this loop; HTTPS through
    /// AsyncHTTPClient. The answer's hop-by-hop headers are dropped.
    func forward(_ claims: AccessTokenClaims, detail: String) -> EventLoopFuture<(HTTPResponseStatus, HTTPHeaders, ByteBuffer)> {
        var outHeaders = HTTPHeaders()
        for (name, value) in head.headers where !Self.isDropped(name) { outHeaders.add(name: name, value: value) }
        switch gateway.credentials.value(for: tool) {
        case .failure(let why): return loop.makeFailedFuture(UpstreamFailure(description: why.description))
        case .success(let cred?): outHeaders.add(name: "Authorization", value: "Bearer \(cred)")
        case .success(nil): break
        }
        outHeaders.add(name: "X-Tarmac-Agent", value: claims.client_id)
        if claims.act != nil { outHeaders.add(name: "X-Tarmac-Person", value: claims.sub) }
        let suffix = rest + (query.map { "?" + $0 } ?? "")
        let toolName = tool.name
        if let target = gateway.upstreams.target(upstream) {
            outHeaders.add(name: "Host", value: target.hostHeader)
            if body.readableBytes > 0 || [.POST, .PUT, .PATCH].contains(head.method) { outHeaders.add(name: "Content-Length", value: String(body.readableBytes)) }
            let out = HTTPRequestHead(version: .http1_1, method: head.method, uri: target.basePath + suffix, headers: outHeaders)
            return gateway.pool.execute(on: loop, host: target.host, port: target.port, head: out, body: body.readableBytes > 0 ? body : nil, timeout: .seconds(120))
                .flatMapErrorThrowing { error in throw UpstreamFailure(description: "the tool '\(toolName)' could not be reached: \(error)") }
                .map { answer in (answer.head.status, Self.kept(answer.head.headers), answer.body) }
        }
        var out = HTTPClientRequest(url: upstream.trimmingSuffix("/") + suffix)
        out.method = head.method
        out.headers = outHeaders
        if body.readableBytes > 0 { out.body = .bytes(body) }
        let client = gateway.client
        let request = out
        let promise = loop.makePromise(of: (HTTPResponseStatus, HTTPHeaders, ByteBuffer).self)
        promise.completeWithTask {
            do {
                let r = try await client.execute(request, timeout: .seconds(120))
                return (r.status, Self.kept(r.headers), try await r.body.collect(upTo: 64 << 20))
            } catch {
                throw UpstreamFailure(description: "the tool '\(toolName)' could not be reached: \(error)")
            }
        }
        return promise.futureResult
    }

    static func kept(_ headers: HTTPHeaders) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in headers where !isDropped(name) { h.add(name: name, value: value) }
        return h
    }

    /// Hop-by-hop headers and the caller's credential never cross the gateway; the length is set again.
    static func isDropped(_ name: String) -> Bool { dropped.contains(name.lowercased()) }
    static let dropped: Set<String> = ["authorization", "host", "connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "trailer",
                                       "transfer-encoding", "upgrade", "content-length", "x-tarmac-agent", "x-tarmac-person"]

    /// One audit record per call: person → agent → tool, route, method, status, bytes, latency. Handed to the audit
    /// sink without holding the response.
    func audit(_ claims: AccessTokenClaims, status: Int, bytes: Int, detail: String) {
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        let draft = AuditDraft(time: gateway.authority.now, actor: CredentialAuthority.actor(of: claims), action: status == 403 ? "tool-call-refused" : "tool-call",
                               object: "tool/\(tool.name)", detail: "\(detail) -> \(status), \(bytes) bytes, \((ms * 100).rounded() / 100) ms")
        gateway.audit.add(draft)
        gateway.logger.debug("tool call", metadata: ["actor": "\(draft.actor)", "tool": "\(tool.name)", "status": "\(status)"])
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
