import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import NIOHTTP1
import TarmacCredentials
import TarmacIdentity
import TarmacModel
import TarmacRuntime

/// Handles every request of the gateway's port (it never calls the router behind it).
struct GatewayResponder: RouterMiddleware {
    typealias Context = BasicRequestContext
    let gateway: ToolGateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let tools = gateway.tools()
        if path.hasPrefix("/.well-known/oauth-protected-resource/") {
            let name = String(path.dropFirst("/.well-known/oauth-protected-resource/".count))
            guard let tool = tools[name], tool.upstream != nil else { return Self.problem(.notFound, "no tool '\(name)' behind this gateway") }
            return try gateway.metadata(tool)
        }
        if path == "/healthz" { return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let first = segments.first, let tool = tools[String(first)], let upstream = tool.upstream else {
            let name = segments.first.map(String.init) ?? ""
            let served = tools.values.filter { $0.upstream != nil }.map(\.name)
            return Self.problem(.notFound, "no tool '\(name)' behind this gateway" + Suggestions.hint(for: name, in: served, noun: "tools"))
        }
        let rest = "/" + (segments.count > 1 ? String(segments[1]) : "")
        let call = Call(gateway: gateway, tool: tool, upstream: upstream, rest: rest, request: request, started: started)
        let response = await call.run()
        gateway.counters.increment(tool: tool.name, status: Int(response.status.code), actorKind: call.actorKind)
        return response
    }

    static func problem(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        let body = (try? JSONSerialization.data(withJSONObject: ["error": ["code": status.code, "message": message]])) ?? Data()
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// One call through the gateway, checked in order: token, deny list, one-time use, rate, scope, then forwarded.
final class Call {
    let gateway: ToolGateway
    let tool: Tool
    let upstream: String
    let rest: String
    let request: Request
    let started: ContinuousClock.Instant
    /// Who the call was for, once its token verified: `agent-for` (a person through an agent) or `workload` (an agent
    /// in its own name); `none` before (metrics label).
    var actorKind = "none"

    init(gateway: ToolGateway, tool: Tool, upstream: String, rest: String, request: Request, started: ContinuousClock.Instant) {
        self.gateway = gateway
        self.tool = tool
        self.upstream = upstream
        self.rest = rest
        self.request = request
        self.started = started
    }

    var challenge: String { "Bearer resource_metadata=\"\(gateway.metadataURL(tool.name))\"" }

    func unauthorized(_ why: String) -> Response {
        GatewayResponder.problem(.unauthorized, why, headers: [.wwwAuthenticate: challenge + ", error=\"invalid_token\", error_description=\"\(Self.quoted(why))\""])
    }

    func forbidden(_ why: String, scope: String?, claims: AccessTokenClaims, jsonrpcID: Any?? = nil) async -> Response {
        var h: HTTPFields = [.wwwAuthenticate: challenge + ", error=\"insufficient_scope\"" + (scope.map { ", scope=\"\($0)\"" } ?? "")]
        audit(claims, status: 403, bytes: 0, detail: "refused: \(why)")
        if let id = jsonrpcID {
            h[.contentType] = "application/json"
            return Response(status: .forbidden, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: MCPMessage.error(id: id, code: -32001, message: why))))
        }
        return GatewayResponder.problem(.forbidden, why, headers: h)
    }

    /// The token after `Bearer `, without surrounding spaces (bytes: Foundation's trimming is slow on long strings).
    static func trimmed(_ bytes: Substring.UTF8View) -> String {
        var b = bytes
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        while let l = b.last, l == 0x20 || l == 0x09 { b = b.dropLast() }
        return String(Substring(b))
    }

    static func quoted(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: "'") }

    func run() async -> Response {
        let authority = gateway.authority
        let now = authority.now
        // 1. The token.
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return GatewayResponder.problem(.unauthorized, "a bearer token for '\(tool.name)' is required: exchange your JWT-SVID at the token endpoint (RFC 8693)",
                                            headers: [.wwwAuthenticate: challenge])
        }
        let token = Self.trimmed(header.utf8.dropFirst(7))
        let claims: AccessTokenClaims
        if let c = gateway.verified.get(token, tool: tool.name, now: now) {
            claims = c
        } else {
            do {
                claims = try await authority.verifyAccess(token, tool: tool.name, now: now)
            } catch {
                return unauthorized("\(error)")
            }
            gateway.verified.put(token, tool: tool.name, claims: claims)
        }
        actorKind = CredentialAuthority.actor(of: claims).kind.rawValue
        // 2. The deny list: the agent's attempt ended.
        if let why = authority.revocation(of: claims) { return unauthorized(why) }
        // 3. One-time tokens.
        if tool.oneTimeTokens && !authority.consume(jti: claims.jti, exp: claims.exp, now: now) {
            return unauthorized("this token was already used; '\(tool.name)' accepts each token once")
        }
        // 4. Rates, per agent and per person.
        if tool.rateLimit > 0 {
            let limiter = gateway.agentLimiters.limiter(rate: tool.rateLimit)
            let keys = ["agent:\(tool.name):\(claims.client_id)"] + (claims.act != nil ? ["person:\(tool.name):\(claims.sub)"] : [])
            for k in keys {
                if let wait = limiter.take(k) {
                    let secs = String(Int(wait.rounded(.up)))
                    return GatewayResponder.problem(.tooManyRequests, "too many calls to '\(tool.name)' for \(k.hasPrefix("agent") ? "this agent" : "this person"); retry in \(secs)s",
                                                    headers: [.retryAfter: secs])
                }
            }
        }
        // 5. The scope: a route's, or the MCP tool's (one rule lists and calls).
        let held = Set(claims.scopes)
        let toolName = tool.name
        let holds: (String) -> Bool = { s in held.contains(s) && authority.grantActive(workload: claims.tarmac.wid, tool: toolName, scope: s, now: now) }
        guard let needed = ToolAccess.scope(of: tool, path: rest, method: request.method.rawValue) else {
            return await forbidden("no route of '\(tool.name)' allows \(request.method.rawValue) \(rest)", scope: nil, claims: claims)
        }
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: gateway.config.maxBody)
        } catch {
            return GatewayResponder.problem(.contentTooLarge, "the body is larger than \(gateway.config.maxBody >> 10) KiB")
        }
        var listing = false
        var mcpDetail = ""
        if needed.isEmpty {
            // The MCP endpoint.
            if request.method == .post {
                switch MCPMessage.parse(Data(buffer: body)) {
                case .failure(let why):
                    return GatewayResponder.problem(.badRequest, why.description)
                case .success(let m):
                    mcpDetail = " \(m.method)\(m.toolName.map { " \($0)" } ?? "")"
                    if m.method == "tools/call" {
                        if case .refused(let why) = ToolAccess.mcp(tool, name: m.toolName ?? "", arguments: m.arguments, holds: holds) {
                            return await forbidden(why, scope: tool.mcp?.tools[m.toolName ?? ""]?.scope, claims: claims, jsonrpcID: .some(m.id))
                        }
                    } else {
                        listing = m.method == "tools/list"
                        guard held.contains(where: holds) else {
                            return await forbidden("no scope of '\(tool.name)' is granted to this agent now", scope: nil, claims: claims, jsonrpcID: .some(m.id))
                        }
                    }
                }
            } else if !held.contains(where: holds) {
                return await forbidden("no scope of '\(tool.name)' is granted to this agent now", scope: nil, claims: claims)
            }
        } else if !holds(needed) {
            let why = held.contains(needed) ? "the grant of \(tool.name):\(needed) is no longer in force" : "the token does not carry scope '\(needed)'"
            return await forbidden(why, scope: needed, claims: claims)
        }
        // 6. Forward, with the gateway's credential.
        var outHeaders = HTTPHeaders()
        for f in request.headers where !Self.dropped.contains(f.name.canonicalName) { outHeaders.add(name: f.name.rawName, value: f.value) }
        switch ToolGateway.upstreamCredential(tool) {
        case .failure(let why):
            audit(claims, status: 502, bytes: 0, detail: "\(request.method.rawValue) \(rest)\(mcpDetail): \(why)")
            return GatewayResponder.problem(.badGateway, why.description)
        case .success(let cred?): outHeaders.add(name: "Authorization", value: "Bearer \(cred)")
        case .success(nil): break
        }
        outHeaders.add(name: "X-Tarmac-Agent", value: claims.client_id)
        if claims.act != nil { outHeaders.add(name: "X-Tarmac-Person", value: claims.sub) }
        let status: Int
        var headers = HTTPFields()
        var responseBody: ByteBuffer
        let target = gateway.upstreams.target(upstream)
        do {
            if let target {
                // Plain HTTP: SwiftNIO keep-alive connections (UpstreamPool).
                outHeaders.replaceOrAdd(name: "Host", value: target.hostHeader)
                if body.readableBytes > 0 || [.post, .put, .patch].contains(request.method) {
                    outHeaders.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
                }
                let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue),
                                           uri: target.basePath + rest + (request.uri.query.map { "?" + $0 } ?? ""), headers: outHeaders)
                let r = try await gateway.pool.execute(host: target.host, port: target.port, head: head, body: body.readableBytes > 0 ? body : nil,
                                                       timeout: .seconds(120))
                status = Int(r.head.status.code)
                for h in r.head.headers where !Self.dropped.contains(h.name.lowercased()) {
                    if let n = HTTPField.Name(h.name) { headers.append(HTTPField(name: n, value: h.value)) }
                }
                responseBody = r.body
            } else {
                // HTTPS (or anything else): AsyncHTTPClient.
                var out = HTTPClientRequest(url: upstream.trimmingSuffix("/") + rest + (request.uri.query.map { "?" + $0 } ?? ""))
                out.method = HTTPMethod(rawValue: request.method.rawValue)
                out.headers = outHeaders
                if body.readableBytes > 0 { out.body = .bytes(body) }
                let r = try await gateway.client.execute(out, timeout: .seconds(120))
                status = Int(r.status.code)
                for h in r.headers where !Self.dropped.contains(h.name.lowercased()) {
                    if let n = HTTPField.Name(h.name) { headers.append(HTTPField(name: n, value: h.value)) }
                }
                responseBody = try await r.body.collect(upTo: 64 << 20)
            }
        } catch {
            audit(claims, status: 502, bytes: 0, detail: "\(request.method.rawValue) \(rest)\(mcpDetail): upstream failed: \(error)")
            return GatewayResponder.problem(.badGateway, "the tool '\(tool.name)' could not be reached: \(error)")
        }
        if listing && status == 200 {
            let stream = headers[.contentType]?.lowercased().hasPrefix("text/event-stream") ?? false
            let filtered = MCPMessage.filterToolsList(Data(buffer: responseBody), eventStream: stream) { name in
                if case .allowed = ToolAccess.mcp(tool, name: name, arguments: nil, holds: holds) { return true }
                return false
            }
            responseBody = ByteBuffer(bytes: filtered)
            headers[.contentLength] = nil
        }
        audit(claims, status: status, bytes: responseBody.readableBytes, detail: "\(request.method.rawValue) \(rest)\(mcpDetail)")
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: responseBody))
    }

    /// Hop-by-hop headers and the caller's credential never cross the gateway.
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
