import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import TarmacTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Agent identity end to end, with real processes: `tarmac up` with its tool gateway, the example tool (a Python MCP
/// server that accepts only the gateway's credential) and the example agent (a Python pod that proves its identity
/// with its bootstrap file, exchanges it for per-tool tokens on behalf of the person who asks it, and calls the tool
/// through the gateway).
@Suite(.serialized) struct AgentIdentityTests {
    static let upstreamSecret = "upstream-" + UUID().uuidString

    /// The example tool on a free port.
    final class ToolServer: @unchecked Sendable {
        let process = Process()
        let port: Int
        /// Where the official SDK's tool (examples/agent/sdk_tool_server.py) writes what it saw; nil for the example tool.
        let seenFile: String?

        /// The example tool, or with `sdk` the same tickets served by the official MCP Python SDK.
        init(sdk: Bool = false) throws {
            port = try TestServer.freePort()
            seenFile = sdk ? NSTemporaryDirectory() + "tarmac-sdk-tool-\(UUID().uuidString).jsonl" : nil
            process.executableURL = URL(fileURLWithPath: Run.which("python3") ?? "/usr/bin/python3")
            process.arguments = [Fixtures.path(sdk ? "examples/agent/sdk_tool_server.py" : "examples/agent/tool_server.py")]
            process.environment = ["TOOL_TOKEN": AgentIdentityTests.upstreamSecret, "PORT": String(port), "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin",
                                   "SEEN_FILE": seenFile ?? ""]
            // Never the test's own output: a process left holding it would keep `swift test` waiting.
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        deinit { stop() }

        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// Every call the tool received: method, path, the Authorization it saw, the person and agent the gateway named.
        func seen() async throws -> [[String: Any]] {
            if let seenFile {
                let text = (try? String(contentsOfFile: seenFile, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            var req = HTTPClientRequest(url: "http://127.0.0.1:\(port)/_seen")
            req.headers.add(name: "Authorization", value: "Bearer \(AgentIdentityTests.upstreamSecret)")
            let r = try await HTTPClient.shared.execute(req, timeout: .seconds(10))
            let body = try await r.body.collect(upTo: 16 << 20)
            return (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: Any]]) ?? []
        }

        /// Lets the tool finish the stream it holds open (see `tool_server.py`).
        func release() async throws {
            var req = HTTPClientRequest(url: "http://127.0.0.1:\(port)/_release")
            req.method = .POST
            req.headers.add(name: "Authorization", value: "Bearer \(AgentIdentityTests.upstreamSecret)")
            _ = try await HTTPClient.shared.execute(req, timeout: .seconds(10))
        }

        func ready() async throws {
            for _ in 0..<200 {
                guard process.isRunning else { throw TestFailure("the example tool exited (\(process.terminationStatus)) before it answered") }
                if seenFile != nil {
                    // Any answer will do: the SDK's server is listening.
                    if (try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/mcp"), timeout: .milliseconds(500))) != nil {
                        // What the tool saw from here on is the gateway's alone.
                        try? Data().write(to: URL(fileURLWithPath: seenFile!))
                        return
                    }
                } else if (try? await seen()) != nil {
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("the example tool did not start")
        }
    }

    struct Setup {
        let server: TestServer
        let tool: ToolServer
        let gateway: String
        let admin: String
        let dan: String
        let erin: String
        let frank: String
        let agentID: String
        let agentURL: String
        let svidFile: String

        func stop() {
            tool.stop()
            server.stop(signal: SIGKILL)
            server.killSupervisors()
        }
    }

    /// `inferencePort`: also serve InferenceServices there (`tarmac up --inference-port`).
    static func start(sdk: Bool = false, inferencePort: Int? = nil) async throws -> Setup {
        let tool = try ToolServer(sdk: sdk)
        let gatewayPort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--gateway-port", String(gatewayPort)] + (inferencePort.map { ["--inference-port", String($0)] } ?? []))
        server.extraEnvironment = ["HELPDESK_TOKEN": upstreamSecret]
        try server.usePlatform(appendingToSpec: """

          identity:
            maxTokenLifetime: 10s
          tools:
            helpdesk:
              endpoint: http://127.0.0.1:\(tool.port)
              upstream: http://127.0.0.1:\(tool.port)
              upstreamCredential: HELPDESK_TOKEN
              scopes: [read, comment, close]
              sensitiveScopes: [close]
              routes:
                - {path: /tickets, methods: [GET], scope: read}
              mcp:
                path: /mcp
                tools:
                  get_ticket: {scope: read}
                  add_comment: {scope: comment}
                  close_ticket: {scope: close}
                  confirm_close: {scope: comment}
            wiki:
              endpoint: http://127.0.0.1:\(tool.port)
              upstream: http://127.0.0.1:\(tool.port)
              upstreamCredential: HELPDESK_TOKEN
              scopes: [read]
              routes:
                - {path: /, methods: [GET], scope: read}
              oneTimeTokens: true
            limited:
              endpoint: http://127.0.0.1:\(tool.port)
              upstream: http://127.0.0.1:\(tool.port)
              upstreamCredential: HELPDESK_TOKEN
              scopes: [read]
              routes:
                - {path: /, methods: [GET], scope: read}
              rateLimit: 1

        """)
        try await tool.ready()
        try await server.start()
        let admin = try server.adminToken
        func token(_ name: String, team: String) async throws -> String {
            let (s, o) = try await server.json(.POST, "/v1/tokens", token: admin, body: #"{"role": "member", "team": "\#(team)", "name": "\#(name)"}"#)
            guard s == 201, let secret = o["secret"] as? String else { throw TestFailure("token for \(name): \(s) \(o)") }
            return secret
        }
        let dan = try await token("dan@acme.example", team: "assistants")
        let erin = try await token("erin@acme.example", team: "assistants")
        let frank = try await token("frank@acme.example", team: "search")
        let doc = try server.dir.write("agent.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Agent
            metadata: {name: helper, team: assistants, env: dev, owner: dan@acme.example}
            spec:
              size: cpu-small
              image: docker.io/library/python:3.12-slim
              command: [python3, agent.py]
              env: {TOOL: helpdesk, SCOPE: read comment, AGENT_SVID_FILE: svid}
              tools:
                helpdesk: [read, comment, close]
                wiki: [read]
                limited: [read]
              onBehalfOf: dan@acme.example
            """)
        let submitted = try server.cli(["submit", "-o", "json", "--workdir", Fixtures.path("examples/agent"), doc], token: dan)
        guard submitted.status == 0, let o = try? JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any],
              let id = o["id"] as? String else { throw TestFailure("submit: \(submitted.stderr)") }
        let w = try await server.waitFor(id) { (($0["endpoints"] as? [String])?.isEmpty == false) }
        let svid = server.data + "/pods/\(id)/1/0/box/work/svid"
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: svid) { try await Task.sleep(for: .milliseconds(50)) }
        guard FileManager.default.fileExists(atPath: svid) else { throw TestFailure("the agent wrote no JWT-SVID; log:\n\(server.serverLog.suffix(3000))") }
        return Setup(server: server, tool: tool, gateway: "http://127.0.0.1:\(gatewayPort)", admin: admin, dan: dan, erin: erin, frank: frank,
                     agentID: id, agentURL: (w["endpoints"] as! [String])[0], svidFile: svid)
    }

    static func post(_ url: String, json: String, token: String?) async throws -> (Int, [String: Any]) {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        req.body = .bytes(ByteBuffer(string: json))
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let body = try await r.body.collect(upTo: 16 << 20)
        return (Int(r.status.code), (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:])
    }

    /// A call through the gateway: status, WWW-Authenticate, body.
    static func call(_ url: String, method: HTTPMethod = .GET, token: String?, body: String? = nil) async throws -> (Int, String?, String) {
        var req = HTTPClientRequest(url: url)
        req.method = method
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(ByteBuffer(string: body))
        }
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let b = try await r.body.collect(upTo: 16 << 20)
        return (Int(r.status.code), r.headers.first(name: "WWW-Authenticate"), String(buffer: b))
    }

    /// RFC 8693, form-encoded, as an agent sends it.
    static func exchange(_ s: Setup, subject: String?, svid: String, audience: String, scope: String) async throws -> (Int, [String: Any]) {
        var form = ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": audience, "scope": scope]
        if let subject {
            form["subject_token"] = subject
            form["subject_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
            form["actor_token"] = svid
            form["actor_token_type"] = "urn:ietf:params:oauth:token-type:jwt"
        } else {
            form["subject_token"] = svid
            form["subject_token_type"] = "urn:ietf:params:oauth:token-type:jwt"
        }
        let body = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
        let (status, data) = try await s.server.http(.POST, "/v1/token", token: nil, body: body, headers: [("Content-Type", "application/x-www-form-urlencoded")])
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    static func accessToken(_ s: Setup, subject: String?, audience: String = "helpdesk", scope: String = "read") async throws -> String {
        let svid = try String(contentsOfFile: s.svidFile, encoding: .utf8)
        let (status, o) = try await exchange(s, subject: subject, svid: svid, audience: audience, scope: scope)
        guard status == 200, let t = o["access_token"] as? String else { throw TestFailure("exchange: \(status) \(o)") }
        return t
    }

    static func steps(_ o: [String: Any]) -> [[String: Any]] { o["steps"] as? [[String: Any]] ?? [] }

    /// An agent calls its team's InferenceService through the inference gateway with an exchanged access token
    /// (audience `inference:TEAM/SERVICE`), in its own name or for its person; a token for another service is refused
    /// naming the audience to ask for, a tool's token is not a caller, another team's service is not exchanged for, and
    /// once the agent ends its tokens stop working.
    @Test func anAgentCallsItsTeamsServiceWithAnExchangedToken() async throws {
        let port = try TestServer.freePort()
        let s = try await Self.start(inferencePort: port)
        defer { s.stop() }
        try ServerTests.InferenceServingTests.serveStub(s.server, token: s.dan, team: "assistants", owner: "dan@acme.example")
        let url = "http://127.0.0.1:\(port)/assistants/ranker/v1/completions"
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(s.dan)")], body: "{}").0) == 200
        }
        let svid = try String(contentsOfFile: s.svidFile, encoding: .utf8)
        func exchange(_ audience: String, subject: String? = nil) async throws -> (Int, [String: Any]) {
            try await Self.exchange(s, subject: subject, svid: svid, audience: audience, scope: "")
        }
        func call(_ token: String) async throws -> (Int, String?, String) {
            let (status, version, body) = try await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(token)")], body: #"{"prompt": "hi"}"#)
            return (status, version, String(decoding: body, as: UTF8.self))
        }
        // In its own name, and for dan.
        var (status, o) = try await exchange("inference:assistants/ranker")
        let own = try #require(o["access_token"] as? String, "\(status) \(o)")
        var answer = try await call(own)
        #expect(answer.0 == 200 && answer.1 == "ranker@1.0.0", "\(answer)")
        (status, o) = try await exchange("inference:assistants/ranker", subject: s.dan)
        let forDan = try #require(o["access_token"] as? String, "\(status) \(o)")
        #expect(try await call(forDan).0 == 200)
        // A token for another service of the team is refused there, naming the audience to ask for.
        (status, o) = try await exchange("inference:assistants/other")
        answer = try await call(try #require(o["access_token"] as? String, "\(status) \(o)"))
        let refusal = ((try? JSONSerialization.jsonObject(with: Data(answer.2.utf8)) as? [String: Any])?["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(answer.0 == 403 && refusal.contains("token is for inference:assistants/other, not assistants/ranker: ask for") && refusal.contains("audience inference:assistants/ranker"),
                "\(answer)")
        // Another team's service is not exchanged for; a tool's token is no caller of services.
        (status, o) = try await exchange("inference:search/ranker")
        #expect(status == 400 && o["error"] as? String == "invalid_target" && (o["error_description"] as? String)?.contains("its own team's services") == true, "\(status) \(o)")
        let tool = try await Self.accessToken(s, subject: s.dan)
        #expect(try await call(tool).0 == 401)
        let audit = try await s.server.json(.GET, "/v1/audit?action=token-exchange", token: s.admin).1
        let objects = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["object"] as? String }
        #expect(objects.contains("service/assistants/ranker"), "\(objects)")
        // The agent ends: its tokens stop working within the gateway's 2 s.
        #expect(try s.server.cli(["cancel", s.agentID], token: s.dan).status == 0)
        try await eventually("the ended agent's token is refused", timeout: .seconds(20)) { try await call(own).0 == 401 }
    }

    @Test func anAgentCallsAToolForAPersonThroughTheGateway() async throws {
        let s = try await Self.start()
        defer { s.stop() }
        // The agent, asked by dan: identity, exchange, tools/list, tools/call.
        let (status, answer) = try await Self.post(s.agentURL + "/ask", json: #"{"ticket": "T-1", "do": ["get_ticket", "add_comment", "close_ticket"]}"#, token: s.dan)
        #expect(status == 200)
        let steps = Self.steps(answer)
        #expect(answer["agent"] as? String == "spiffe://acme/team/assistants/env/dev/agent/helper")
        #expect(steps.first?["status"] as? Int == 200, "\(steps)")
        #expect(steps.first?["scope"] as? String == "read comment")
        #expect(steps.count == 5, "\(steps)")
        guard steps.count == 5 else { return }
        #expect(steps[1]["tools"] as? [String] == ["get_ticket", "add_comment"], "tools/list shows only granted tools: \(steps[1])")
        #expect(steps[2]["status"] as? Int == 200)
        let ticket = "\(steps[2]["result"] ?? "")"
        #expect(ticket.contains("GPU quota for search"), "\(ticket)")
        #expect(steps[3]["status"] as? Int == 200)
        #expect(steps[4]["status"] as? Int == 403, "close is not granted: \(steps[4])")

        // The tool saw the gateway's credential and the person, never the caller's token.
        let seen = try await s.tool.seen().filter { ($0["path"] as? String) == "/mcp" }
        // The agent is an MCP client: initialize and its notification, tools/list, get_ticket, add_comment, and the
        // session's DELETE reach the tool; close_ticket stops at the gateway.
        #expect(seen.map { $0["method"] as? String ?? "" } == ["POST", "POST", "POST", "POST", "POST", "DELETE"], "\(seen)")
        #expect(seen.allSatisfy { ($0["authorization"] as? String) == "Bearer \(Self.upstreamSecret)" })
        #expect(seen.allSatisfy { ($0["person"] as? String) == "dan@acme.example" })
        #expect(seen.allSatisfy { ($0["agent"] as? String) == "spiffe://acme/team/assistants/env/dev/agent/helper" })

        // The audit trail names person, agent and tool, for every call and its refusal.
        // (Gateway records are written in groups every few milliseconds: the last call's may follow the answer.)
        var records: [[String: Any]] = []
        for _ in 0..<100 {
            let (_, audit) = try await s.server.json(.GET, "/v1/audit?tool=helpdesk&actor=agent-for:dan@acme.example&limit=100", token: s.admin)
            records = audit["items"] as? [[String: Any]] ?? []
            if records.contains(where: { ($0["detail"] as? String ?? "").hasPrefix("DELETE /mcp") }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let detail = { (r: [String: Any]) in r["detail"] as? String ?? "" }
        #expect(records.contains { ($0["action"] as? String) == "tool-call" && detail($0).hasPrefix("POST /mcp tools/call get_ticket") && detail($0).contains("-> 200") }, "\(records.map(detail))")
        #expect(records.contains { detail($0).hasPrefix("POST /mcp notifications/initialized -> 202") }, "\(records.map(detail))")
        #expect(records.contains { detail($0).hasPrefix("DELETE /mcp -> 200") }, "\(records.map(detail))")
        #expect(records.contains { ($0["action"] as? String) == "tool-call-refused" && ($0["detail"] as? String ?? "").contains("close_ticket") })
        #expect(records.contains { ($0["action"] as? String) == "token-exchange" })
        #expect(records.allSatisfy { ($0["actorID"] as? String) == "dan@acme.example via spiffe://acme/team/assistants/env/dev/agent/helper" })
        // By workload (an indexed column, like tool and actor): the agent's submit, its grants, exchanges and calls; no
        // other workload's records.
        let (_, mine) = try await s.server.json(.GET, "/v1/audit?workload=\(s.agentID)&limit=1000", token: s.admin)
        let about = mine["items"] as? [[String: Any]] ?? []
        let actions = Set(about.compactMap { $0["action"] as? String })
        #expect(actions.isSuperset(of: ["submit", "tool-call", "token-exchange"]) && actions.contains { $0.hasPrefix("grant") }, "\(actions)")
        #expect(about.allSatisfy { ($0["object"] as? String ?? "").hasSuffix(s.agentID) || ($0["object"] as? String ?? "").hasPrefix("tool/")
                || ($0["object"] as? String ?? "").hasPrefix("grant/") }, "\(about.map { $0["object"] ?? "" })")

        // Metrics keep people acting through agents apart from agents acting alone.
        let metrics = String(decoding: try await s.server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
        #expect(metrics.contains(#"tarmac_gateway_requests_total{tool="helpdesk",status="200",actor_kind="agent-for"}"#), "\(metrics.suffix(2000))")
        #expect(metrics.contains(#"tarmac_token_exchanges_total{result="issued",actor_kind="agent-for"}"#))

        // Another team's pod reads neither the agent's bootstrap nor its JWT-SVID, nor the gateway's upstream credential;
        // and the bootstrap, once used, gives nothing to whoever holds it.
        let bootstrap = s.server.data + "/pods/\(s.agentID)/1/0/box/identity/bootstrap"
        let probe = try s.server.dir.write("probe.yaml", Doc.training("probe", script: """
            import os
            for label, path in [("bootstrap", \(Self.pyString(bootstrap))), ("svid", \(Self.pyString(s.svidFile)))]:
                try:
                    open(path).read()
                    print(label, "READ")
                except OSError as e:
                    print(label, "unreadable")
            print("upstream credential", os.environ.get("HELPDESK_TOKEN"))
            """))
        let probed = try s.server.cli(["submit", "--wait", probe], token: s.frank)
        #expect(probed.status == 0, "\(probed.stderr)")
        var probeLog = ""
        for _ in 0..<50 where !probeLog.contains("upstream credential") {
            probeLog = try s.server.cli(["logs", "probe"], token: s.frank).stdout
            if !probeLog.contains("upstream credential") { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(probeLog.contains("bootstrap unreadable") && probeLog.contains("svid unreadable") && probeLog.contains("upstream credential None"), "\(probeLog)")
        let stolen = try String(contentsOfFile: bootstrap, encoding: .utf8)
        let (replay, replayBody) = try await s.server.json(.POST, "/v1/identity", token: nil, body: String(decoding: try JSONSerialization.data(withJSONObject: ["bootstrap": stolen]), as: UTF8.self))
        #expect(replay == 401 && "\(replayBody)".contains("already used"), "\(replay) \(replayBody)")

        // A token for tool A is refused at tool B, with where to learn about B.
        let a = try await Self.accessToken(s, subject: s.dan)
        let (atB, challenge, _) = try await Self.call(s.gateway + "/wiki/tickets/T-1", token: a)
        #expect(atB == 401)
        #expect(challenge?.contains("resource_metadata=\"\(s.gateway)/.well-known/oauth-protected-resource/wiki\"") == true, "\(challenge ?? "none")")
        let (noToken, challenge2, _) = try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: nil)
        #expect(noToken == 401 && challenge2?.contains("resource_metadata=") == true)
        let (metaStatus, _, meta) = try await Self.call(s.gateway + "/.well-known/oauth-protected-resource/wiki", token: nil)
        #expect(metaStatus == 200 && meta.contains("\"resource\":\"\(s.gateway.replacingOccurrences(of: "/", with: "\\/"))\\/wiki\""), "\(meta)")
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: a).0 == 200)

        // A chain: a token issued to the agent, passed on as subject_token with an agent's SVID as actor_token, gives a
        // token for the same person with the agents nested in act, never more scope, and the gateway names the chain.
        let svidForChain = try String(contentsOfFile: s.svidFile, encoding: .utf8)
        var chainForm = ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": a,
                         "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "actor_token": svidForChain,
                         "actor_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "helpdesk", "scope": "read"]
        func encode(_ f: [String: String]) -> String { f.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&") }
        let (chainStatus, chainBody) = try await s.server.http(.POST, "/v1/token", token: nil, body: encode(chainForm), headers: [("Content-Type", "application/x-www-form-urlencoded")])
        let chained = try #require((try? JSONSerialization.jsonObject(with: chainBody) as? [String: Any])?["access_token"] as? String, "\(chainStatus) \(String(decoding: chainBody, as: UTF8.self))")
        let chainClaims = try #require(Self.payload(chained))
        #expect(chainClaims["sub"] as? String == "dan@acme.example")
        let act = chainClaims["act"] as? [String: Any]
        #expect(act?["sub"] as? String == "spiffe://acme/team/assistants/env/dev/agent/helper" && (act?["act"] as? [String: Any])?["sub"] as? String == "spiffe://acme/team/assistants/env/dev/agent/helper")
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: chained).0 == 200)
        chainForm["scope"] = "read comment"
        let (wider, _) = try await s.server.http(.POST, "/v1/token", token: nil, body: encode(chainForm), headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(wider == 400, "a chained token never carries more scope than the token it came from")

        // A one-time token works once.
        let once = try await Self.accessToken(s, subject: s.dan, audience: "wiki")
        #expect(try await Self.call(s.gateway + "/wiki/tickets/T-2", token: once).0 == 200)
        let (replayed, _, why) = try await Self.call(s.gateway + "/wiki/tickets/T-2", token: once)
        #expect(replayed == 401 && why.contains("already used"), "\(why)")

        // Calls beyond a tool's rate (1 per second here) wait: 429 with Retry-After.
        let limitedToken = try await Self.accessToken(s, subject: s.dan, audience: "limited")
        // Sent together, so that they fall within one second however slow the machine is (one after another they did
        // not, once, on a loaded machine: three 200s).
        let limitedStatuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 { group.addTask { try await Self.call(s.gateway + "/limited/tickets/T-1", token: limitedToken).0 } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(limitedStatuses.filter { $0 == 200 }.count == 1 && limitedStatuses.filter { $0 == 429 }.count == 2, "\(limitedStatuses)")

        // A token past its exp (the platform's maxTokenLifetime is 10 s here: 3 s was once shorter than an exchange and a
        // call on a loaded machine) is refused.
        let short = try await Self.accessToken(s, subject: s.dan)
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: short).0 == 200, "fresh, it works")
        var whyExpired = ""
        try await eventually("the 10-second token expires", timeout: .seconds(30), every: .milliseconds(200)) {
            let (status, _, why) = try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: short)
            whyExpired = why
            return status == 401
        }
        #expect(whyExpired.contains("expired"), "\(whyExpired)")

        // A member of another team cannot obtain tokens for this team's agent; nor can another member act as dan.
        let svid = try String(contentsOfFile: s.svidFile, encoding: .utf8)
        let (frankStatus, frank) = try await Self.exchange(s, subject: s.frank, svid: svid, audience: "helpdesk", scope: "read")
        #expect(frankStatus == 400 && frank["error"] as? String == "invalid_grant", "\(frank)")
        let (erinStatus, erin) = try await Self.exchange(s, subject: s.erin, svid: svid, audience: "helpdesk", scope: "read")
        #expect(erinStatus == 400 && erin["error"] as? String == "invalid_grant", "\(erin)")

        // The sensitive scope waits for an approver other than the requester.
        let (pendingStatus, pending) = try await Self.exchange(s, subject: s.dan, svid: svid, audience: "helpdesk", scope: "close")
        #expect(pendingStatus == 400 && pending["error"] as? String == "invalid_scope", "\(pending)")
        let (_, grants) = try await s.server.json(.GET, "/v1/grants?tool=helpdesk&scope=close", token: s.admin)
        let closeID = try #require((grants["items"] as? [[String: Any]])?.first?["id"] as? String)
        // A misspelt field is named, not ignored (it would have approved for the contract's whole maxLifetime), and the
        // grant stays pending.
        let (typo, typoBody) = try await s.server.json(.POST, "/v1/grants/\(closeID)/approve", token: s.admin, body: #"{"lifetime": 60}"#)
        #expect(typo == 422 && ((typoBody["error"] as? [String: Any])?["message"] as? String ?? "").contains("did you mean 'lifetimeSeconds'"), "\(typo) \(typoBody)")
        let (_, stillPending) = try await s.server.json(.GET, "/v1/grants?tool=helpdesk&scope=close", token: s.admin)
        #expect((stillPending["items"] as? [[String: Any]])?.first?["state"] as? String == "pending")
        let (selfApprove, selfApproveBody) = try await s.server.json(.POST, "/v1/grants/\(closeID)/approve", token: s.dan)
        #expect(selfApprove == 403, "the requester cannot approve")
        let selfApproveMessage = (selfApproveBody["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(selfApproveMessage.hasSuffix("an approver (role:admin) other than the requester must approve or deny it"), "\(selfApproveBody)")
        #expect(try await s.server.json(.POST, "/v1/grants/\(closeID)/approve", token: s.erin).0 == 403, "only an admin may")
        #expect(try s.server.cli(["grant", "approve", closeID, "--lifetime", "1h"], token: s.admin).status == 0)
        let (_, closing) = try await Self.post(s.agentURL + "/ask", json: #"{"ticket": "T-2", "scope": "read close", "do": ["close_ticket"]}"#, token: s.dan)
        #expect(Self.steps(closing).last?["status"] as? Int == 200, "\(closing)")
        let closed = "\(Self.steps(closing).last?["result"] ?? "")"
        #expect(closed.contains("closed"), "\(closed)")

        // Key rotation: tokens signed before stay valid until they expire; new ones verify with the new key.
        let before = try await Self.accessToken(s, subject: s.dan)
        let (rotated, r) = try await s.server.json(.POST, "/v1/keys/rotate", token: s.admin)
        #expect(rotated == 200 && (r["published"] as? [String])?.count == 2, "\(r)")
        let after = try await Self.accessToken(s, subject: s.dan)
        #expect(Self.kid(before) != Self.kid(after))
        #expect(Self.kid(after) == r["kid"] as? String)
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: before).0 == 200)
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: after).0 == 200)
        let (_, jwks) = try await s.server.json(.GET, "/.well-known/jwks.json", token: nil)
        #expect(Set(((jwks["keys"] as? [[String: Any]]) ?? []).compactMap { $0["kid"] as? String }) == [Self.kid(before), Self.kid(after)])

        // Revocation stops the next call, although the token has not expired.
        let live = try await Self.accessToken(s, subject: s.dan)
        #expect(try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: live).0 == 200)
        let (_, readGrants) = try await s.server.json(.GET, "/v1/grants?tool=helpdesk&scope=read", token: s.admin)
        let readID = try #require((readGrants["items"] as? [[String: Any]])?.first?["id"] as? String)
        let t0 = ContinuousClock.now
        #expect(try await s.server.json(.POST, "/v1/grants/\(readID)/revoke", token: s.dan, body: #"{"reason": "test"}"#).0 == 200)
        let (afterRevoke, _, whyRevoked) = try await Self.call(s.gateway + "/helpdesk/tickets/T-1", token: live)
        let delay = ContinuousClock.now - t0
        #expect(afterRevoke == 403 && whyRevoked.contains("the grant of helpdesk:read (\(readID)) was revoked at ") && whyRevoked.contains("by dan@acme.example: test"), "\(whyRevoked)")
        #expect(delay < .seconds(1), "revoke to refusal took \(delay)")
        // The CLI says a revocation is over for good: no "until".
        let revokedClose = try s.server.cli(["grant", "revoke", closeID, "--reason", "done"], token: s.admin)
        #expect(revokedClose.status == 0 && revokedClose.stdout.hasPrefix("grant \(closeID) (helper helpdesk:close) revoked"), "\(revokedClose.stdout)\(revokedClose.stderr)")
        #expect(!revokedClose.stdout.contains("until"), "\(revokedClose.stdout)")

        // When the agent ends, its credentials end: the next call is refused and no new token is issued.
        let comment = try await Self.accessToken(s, subject: s.dan, scope: "comment")
        #expect(try s.server.cli(["cancel", s.agentID], token: s.dan).status == 0)
        _ = try await s.server.waitFor(s.agentID) { ($0["state"] as? String) == "cancelled" }
        var refused = 0
        for _ in 0..<20 where refused == 0 {
            let (st, _, _) = try await Self.call(s.gateway + "/helpdesk/mcp", method: .POST, token: comment, body: #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            if st == 401 { refused += 1 } else { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(refused == 1, "a token of an ended agent still worked")
        let (endedStatus, ended) = try await Self.exchange(s, subject: s.dan, svid: svid, audience: "helpdesk", scope: "comment")
        #expect(endedStatus == 400 && ended["error"] as? String == "invalid_grant", "\(ended)")
    }

    /// Malformed and forged JWTs at the token endpoint, the identity endpoint and the gateway: every one a 4xx with a
    /// reason, the server alive and no unexpected error in its log.
    @Test func malformedAndForgedTokensAreRefusedEverywhere() async throws {
        let tool = try ToolServer()
        defer { tool.stop() }
        let gatewayPort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--gateway-port", String(gatewayPort)])
        defer { server.stop(signal: SIGKILL) }
        server.extraEnvironment = ["HELPDESK_TOKEN": Self.upstreamSecret]
        try server.usePlatform(appendingToSpec: """

          tools:
            helpdesk:
              endpoint: http://127.0.0.1:\(tool.port)
              upstream: http://127.0.0.1:\(tool.port)
              upstreamCredential: HELPDESK_TOKEN
              scopes: [read]
              routes: [{path: /, scope: read}]

        """)
        try await tool.ready()
        try await server.start()
        let admin = try server.adminToken
        let (_, jwks) = try await server.json(.GET, "/.well-known/jwks.json", token: nil)
        let key = try #require((jwks["keys"] as? [[String: Any]])?.first)
        let kid = key["kid"] as! String
        func b64(_ d: Data) -> String { d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "") }
        func b64(_ s: String) -> String { b64(Data(s.utf8)) }
        let now = Int(Date().timeIntervalSince1970)
        let claims = #"{"iss":"\#(server.url)","sub":"dan@acme.example","aud":["helpdesk"],"exp":\#(now + 300),"iat":\#(now),"jti":"x","scope":"read","client_id":"spiffe://acme/x","tarmac":{"wid":"wl-1","att":1,"team":"assistants"}}"#
        let act = String(repeating: #"{"sub":"a","act":"#, count: 1000) + "null" + String(repeating: "}", count: 1000)
        let hmacHeader = b64(#"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#)
        let hmac = HMAC<SHA256>.authenticationCode(for: Data((hmacHeader + "." + b64(claims)).utf8),
                                                   using: SymmetricKey(data: Data(((key["x"] as! String) + (key["y"] as! String)).utf8)))
        var tokens: [String: String] = [
            "alg none": b64(#"{"alg":"none","typ":"at+jwt"}"#) + "." + b64(claims) + ".",
            "HS256 with the public key": hmacHeader + "." + b64(claims) + "." + b64(Data(hmac)),
            "wrong kid": b64(#"{"alg":"ES256","typ":"at+jwt","kid":"nope"}"#) + "." + b64(claims) + "." + b64(Data(repeating: 1, count: 64)),
            "right kid, forged signature": b64(#"{"alg":"ES256","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + b64(claims) + "." + b64(Data(repeating: 1, count: 64)),
            "truncated": String((b64(#"{"alg":"ES256","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + b64(claims)).prefix(40)),
            "huge": String(repeating: "A", count: 200_000) + "." + b64(claims) + ".AAAA",
            "bad base64": "%%%.***.!!!",
            "nested act 1000 deep": b64(#"{"alg":"ES256","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + b64(#"{"sub":"dan","act":"# + act + "}") + "." + b64(Data(repeating: 1, count: 64)),
            "empty": "",
            "not a JWT": "hello",
            "non-ASCII": "é.ü.ß",
        ]
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")
        for i in 0..<60 { tokens["random \(i)"] = String((0..<Int.random(in: 1...400, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }

        let dan = try await server.json(.POST, "/v1/tokens", token: admin, body: #"{"role": "member", "team": "assistants", "name": "dan@acme.example"}"#).1["secret"] as! String
        func form(_ f: [String: String]) -> String {
            f.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
        }
        for (name, t) in tokens.sorted(by: { $0.key < $1.key }) {
            let atGateway = try await Self.call("http://127.0.0.1:\(gatewayPort)/helpdesk/tickets/T-1", token: t)
            // A 200 KB header never reaches the gateway's code: the HTTP parser refuses it (400).
            #expect(name == "huge" ? (400..<500).contains(atGateway.0) : atGateway.0 == 401, "\(name) at the gateway: \(atGateway)")
            let exchanges = [
                ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": t, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "helpdesk"],
                ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": dan, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                 "actor_token": t, "actor_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "helpdesk"],
                ["grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": t, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                 "actor_token": t, "actor_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": "helpdesk"],
            ]
            for f in exchanges {
                let (status, body) = try await server.http(.POST, "/v1/token", token: nil, body: form(f), headers: [("Content-Type", "application/x-www-form-urlencoded")])
                #expect((400..<500).contains(status), "\(name) at /v1/token: \(status) \(String(decoding: body, as: UTF8.self).prefix(300))")
                let error = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"]
                #expect(error is String || status == 413, "\(name): an OAuth error body")
            }
            let (idStatus, _) = try await server.http(.POST, "/v1/identity", token: nil, body: String(data: try JSONSerialization.data(withJSONObject: ["svid": t]), encoding: .utf8))
            #expect((400..<500).contains(idStatus), "\(name) at /v1/identity: \(idStatus)")
        }
        #expect(try await server.http(.GET, "/healthz", token: nil).0 == 200)
        #expect(try await Self.call("http://127.0.0.1:\(gatewayPort)/healthz", token: nil).0 == 200)

        // HTTP at the gateway's port, byte by byte. Pipelined requests are answered in order on one connection.
        let pipelined = try Self.raw(port: gatewayPort, "GET /helpdesk/tickets/T-1 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                     + "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(Self.statuses(pipelined) == [401, 200, 404], "\(pipelined)")
        // A body over the limit (1 MiB) is refused from its Content-Length, before it is sent, and the connection closes.
        let large = try Self.raw(port: gatewayPort, "POST /helpdesk/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        #expect(Self.statuses(large) == [413] && large.lowercased().contains("connection: close"), "\(large)")
        // The same without a length (chunked): refused once the limit is crossed.
        let chunk = String(repeating: "a", count: 65536)
        let chunked = try Self.raw(port: gatewayPort, "POST /helpdesk/tickets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   + String(repeating: "10000\r\n" + chunk + "\r\n", count: 20) + "0\r\n\r\n")
        #expect(Self.statuses(chunked) == [413], "\(chunked.prefix(300))")
        // Not HTTP: 400, and the connection closes.
        let garbage = try Self.raw(port: gatewayPort, "\u{1}\u{2} NOT HTTP\r\n\r\n")
        #expect(Self.statuses(garbage) == [400], "\(garbage)")
        #expect(try await Self.call("http://127.0.0.1:\(gatewayPort)/healthz", token: nil).0 == 200)
        #expect(!server.serverLog.contains("unexpected error"), "\(server.serverLog.suffix(2000))")
    }

    /// MCP's streamable HTTP: a tools/call answered with server-sent events (progress, then the result) reaches the agent
    /// as the tool sends it, not when the stream ends, and is audited once it ended.
    @Test func aStreamOfServerSentEventsIsPassedOnAsItComes() async throws {
        let s = try await Self.start()
        defer { s.stop() }
        let token = try await Self.accessToken(s, subject: s.dan)
        var req = HTTPClientRequest(url: s.gateway + "/helpdesk/mcp")
        req.method = .POST
        req.headers.add(name: "Authorization", value: "Bearer \(token)")
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "Accept", value: "application/json, text/event-stream")
        req.body = .bytes(ByteBuffer(string: #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_ticket","arguments":{"id":"T-1"},"_meta":{"progressToken":"p-1"}}}"#))
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        #expect(r.status == .ok)
        #expect(r.headers.first(name: "Content-Type") == "text/event-stream")
        var received = ""
        var parts = r.body.makeAsyncIterator()
        while !received.contains("notifications/progress"), let part = try await parts.next() { received += String(buffer: part) }
        // The tool holds the result back until it is released: the progress came on its own, while the stream was open.
        #expect(received.contains(#""progressToken": "p-1""#), "\(received)")
        #expect(!received.contains(#""result""#), "the result came with the progress: the stream was held back: \(received)")
        try await s.tool.release()
        while let part = try await parts.next() { received += String(buffer: part) }
        #expect(received.contains(#""id": 7, "result""#) && received.contains("GPU quota for search"), "\(received)")
        #expect(try await s.tool.seen().last?["authorization"] as? String == "Bearer \(Self.upstreamSecret)")

        // Audited when it ended, as a stream, for dan through the agent.
        var streamed: [[String: Any]] = []
        for _ in 0..<100 where streamed.isEmpty {
            let (_, audit) = try await s.server.json(.GET, "/v1/audit?tool=helpdesk&actor=agent-for:dan@acme.example&limit=100", token: s.admin)
            streamed = (audit["items"] as? [[String: Any]] ?? []).filter { ($0["detail"] as? String)?.contains("(event stream)") == true }
            if streamed.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(streamed.count == 1, "\(streamed)")
        #expect((streamed.first?["detail"] as? String)?.hasPrefix("POST /mcp tools/call get_ticket (event stream) -> 200,") == true, "\(streamed)")

        // An agent that goes away in the middle of a stream: the gateway closes the tool's connection too.
        let body = #"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_ticket","arguments":{"id":"T-2"},"_meta":{"progressToken":"p-2"}}}"#
        let port = Int(s.gateway.split(separator: ":").last ?? "") ?? 0
        let fd = try Self.connect(port: port)
        let request = "POST /helpdesk/mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
            + "Accept: application/json, text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var seenSoFar = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !seenSoFar.contains("p-2") {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            seenSoFar += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        #expect(seenSoFar.contains("p-2"), "\(seenSoFar)")
        close(fd)
        var closed = false
        for _ in 0..<100 where !closed {
            closed = try await s.tool.seen().contains { ($0["method"] as? String) == "STREAM" && $0["closed"] != nil }
            if !closed { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(closed, "the tool's connection stayed open after the agent went away")
    }

    /// A TCP connection to the gateway, with 5 s timeouts.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            throw TestFailure("cannot connect to \(port)")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Writes `request` to 127.0.0.1:`port` and reads until the server closes the connection (5 s at most).
    static func raw(port: Int, _ request: String) throws -> String {
        let fd = try connect(port: port)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may close before it has read everything (a refused body)
            sent += n
        }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The status codes of the HTTP responses in `text`, in order.
    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    /// A Python string literal.
    static func pyString(_ s: String) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed), as: UTF8.self) }

    static func payload(_ jwt: String) -> [String: Any]? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var t = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    static func kid(_ jwt: String) -> String? {
        guard let h = jwt.split(separator: ".").first else { return nil }
        var t = h.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["kid"] as? String
    }
}
