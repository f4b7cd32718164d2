import AsyncHTTPClient
import Foundation
import NIOCore
import TarmacTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The official Model Context Protocol Python SDK on both sides of Tarmac's gateway: its server (MCPServer over
/// streamable HTTP, answering with CRLF server-sent events) as the tool, its client as the agent's MCP client.
extension AgentIdentityTests {
    /// The SDK, at the version .ci/run installs.
    static let sdkVersion: String? = {
        guard let r = try? Run.program(Run.which("python3") ?? "/usr/bin/python3", ["-c", "import importlib.metadata as m; print(m.version('mcp'))"]),
              r.status == 0 else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    /// Runs Tests/Support/mcp_sdk_client.py through the gateway and returns what it printed after `RESULT `.
    static func sdkClient(_ s: Setup, token: String, mode: String) throws -> [String: Any] {
        let r = try Run.program(Run.which("python3") ?? "/usr/bin/python3",
                                [Fixtures.path("Tests/Support/mcp_sdk_client.py"), s.gateway + "/helpdesk/mcp", token, mode])
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }),
              let o = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any] else {
            throw TestFailure("the SDK's client printed no result (exit \(r.status)):\n\(r.stdout)\n\(r.stderr.suffix(3000))")
        }
        return o
    }

    @Test(.enabled(if: sdkVersion == "2.3.0", "needs the official MCP Python SDK 2.3.0 (pip install mcp==2.3.0; .ci/run installs it)"))
    func theOfficialSDKsClientAndServerWorkThroughTheGateway() async throws {
        let s = try await Self.start(sdk: true)
        defer { s.stop() }
        // dan's token for the tool: read and comment are granted by the contract; close waits for an admin.
        let token = try await Self.accessToken(s, subject: s.dan, scope: "read comment")

        // The handshake protocol (2025-11-25): sessions, and the server's own requests to the client.
        let legacy = try Self.sdkClient(s, token: token, mode: "legacy")
        // tools/list, answered by the SDK's server as CRLF server-sent events, shows only what the token may call.
        #expect(legacy["tools"] as? [String] == ["add_comment", "confirm_close", "get_ticket"], "\(legacy)")
        let get = legacy["get_ticket"] as? [String: Any]
        let getText = (get?["text"] as? String) ?? ""
        #expect(get?["isError"] as? Bool == false && getText.contains("GPU quota for search"), "\(legacy)")
        #expect(legacy["progress"] as? [String] == ["looking it up"], "the progress notification reached the client: \(legacy)")
        // close_ticket is refused at the gateway, in MCP's error shape, saying why.
        let close = legacy["close_ticket"] as? [String: Any]
        let closeMessage = (close?["message"] as? String) ?? ""
        #expect(closeMessage.contains("needs scope 'close' of 'helpdesk', which this token does not carry"), "\(legacy)")
        // confirm_close: the server pings the client and asks it (elicitation); both answers come back through the gateway.
        #expect(legacy["elicited"] as? [String] == ["Close T-2?"], "\(legacy)")
        let confirmText = ((legacy["confirm_close"] as? [String: Any])?["text"] as? String) ?? ""
        #expect(confirmText.contains("\"status\": \"closed\""), "\(legacy)")

        // The single-exchange protocol the SDK negotiates by default (2026-07-28).
        let modern = try Self.sdkClient(s, token: token, mode: "auto")
        #expect(modern["tools"] as? [String] == ["add_comment", "confirm_close", "get_ticket"], "\(modern)")
        let modernText = ((modern["get_ticket"] as? [String: Any])?["text"] as? String) ?? ""
        #expect(modernText.contains("T-1"), "\(modern)")

        // The tool saw only the gateway's credential, for every request, the session's DELETE included.
        let seen = try await s.tool.seen()
        #expect(!seen.isEmpty && seen.allSatisfy { ($0["authorization"] as? String) == "Bearer \(Self.upstreamSecret)" }, "\(seen)")
        #expect(seen.allSatisfy { ($0["person"] as? String) == "dan@acme.example" })
        #expect(seen.contains { $0["method"] as? String == "DELETE" }, "the session was ended: \(seen)")
        #expect(Set(seen.compactMap { $0["version"] as? String }) == ["2025-11-25", "2026-07-28"], "\(seen)")

        // Every message is audited, the client's answers to the server's requests included.
        var details: [String] = []
        for _ in 0..<100 {
            let (_, audit) = try await s.server.json(.GET, "/v1/audit?tool=helpdesk&limit=200", token: s.admin)
            details = (audit["items"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
            if details.contains(where: { $0.hasPrefix("DELETE /mcp") }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        for expected in ["POST /mcp initialize", "POST /mcp notifications/initialized", "POST /mcp tools/list", "POST /mcp tools/call get_ticket",
                         "POST /mcp tools/call confirm_close", "POST /mcp response to ", "DELETE /mcp"] {
            #expect(details.contains { $0.hasPrefix(expected) }, "\(expected): \(details)")
        }
        #expect(details.contains { $0.contains("refused: MCP tool 'close_ticket'") })
        // A stream the client closed after its result is complete, not broken off.
        #expect(!details.contains { $0.contains("tools/call get_ticket (event stream, broken off") }, "\(details)")

        // An unknown protocol version is refused with the error MCP names, and the versions that are read.
        let (status, body) = try await Self.post(s.gateway + "/helpdesk/mcp", json: #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, token: token,
                                                 headers: [("MCP-Protocol-Version", "1999-01-01")])
        let error = body["error"] as? [String: Any]
        #expect(status == 400 && error?["code"] as? Int == -32022, "\(body)")
        #expect(((error?["data"] as? [String: Any])?["supported"] as? [String])?.contains("2026-07-28") == true, "\(body)")
        #expect((error?["data"] as? [String: Any])?["requested"] as? String == "1999-01-01")
        // A batch under a version that has none: refused, not half-read.
        let (batch, batchBody) = try await Self.post(s.gateway + "/helpdesk/mcp", json: #"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#, token: token,
                                                     headers: [("MCP-Protocol-Version", "2025-11-25")])
        #expect(batch == 400 && (batchBody["error"] as? [String: Any])?["code"] as? Int == -32600, "\(batchBody)")

        // Pending, then revoked: each refusal says which, with its data.
        let svid = try String(contentsOfFile: s.svidFile, encoding: .utf8)
        let (_, grants) = try await s.server.json(.GET, "/v1/grants?tool=helpdesk&scope=close", token: s.admin)
        let closeID = try #require((grants["items"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(try s.server.cli(["grant", "approve", closeID, "--lifetime", "1h"], token: s.admin).status == 0)
        let (_, issued) = try await Self.exchange(s, subject: s.dan, svid: svid, audience: "helpdesk", scope: "read close")
        let closeToken = try #require(issued["access_token"] as? String)
        #expect(try await Self.post(s.server.url + "/v1/grants/\(closeID)/revoke", json: #"{"reason": "audit"}"#, token: s.admin).0 == 200)
        let call = #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"close_ticket","arguments":{"id":"T-1"}}}"#
        let (revoked, revokedBody) = try await Self.post(s.gateway + "/helpdesk/mcp", json: call, token: closeToken)
        let r = revokedBody["error"] as? [String: Any]
        let data = r?["data"] as? [String: Any]
        #expect(revoked == 403 && r?["code"] as? Int == -32001 && revokedBody["id"] as? Int == 9, "\(revokedBody)")
        #expect(data?["reason"] as? String == "revoked" && data?["by"] as? String == "admin" && data?["at"] != nil && data?["grant"] as? String == closeID, "\(revokedBody)")
        let revokedMessage = (r?["message"] as? String) ?? ""
        #expect(revokedMessage.contains("was revoked at "), "\(revokedBody)")
    }
}

extension AgentIdentityTests {
    static func post(_ url: String, json: String, token: String?, headers: [(String, String)]) async throws -> (Int, [String: Any]) {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "Accept", value: "application/json, text/event-stream")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        req.body = .bytes(ByteBuffer(string: json))
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let body = try await r.body.collect(upTo: 16 << 20)
        return (Int(r.status.code), (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:])
    }
}
