import Foundation
import TarmacModel
@testable import TarmacIdentity

/// A tickets tool and an agent of team `assistants` acting for dan, as the identity rules see them.
enum IdentityFixtures {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static var tool: Tool {
        var t = Tool(name: "tickets", endpoint: "http://127.0.0.1:9100")
        t.scopes = ["read", "comment", "close"]
        t.sensitiveScopes = ["close"]
        t.upstream = "http://127.0.0.1:9100"
        t.routes = [ToolRoute(path: "/tickets", methods: ["GET"], scope: "read"), ToolRoute(path: "/tickets", methods: [], scope: "comment")]
        t.mcp = MCPRules(path: "/mcp", tools: ["get_ticket": MCPToolRule(scope: "read"), "close_ticket": MCPToolRule(scope: "close", arguments: ["queue": ["support"]])])
        t.grants = ["comment": GrantRule(approvers: "team:platform", maxLifetime: TimeSpan(seconds: 3600))]
        return t
    }

    static let details = AgentDetails(tools: ["tickets": ["read", "comment", "close"]], onBehalfOf: "dan@acme.example")

    static func grants(_ details: AgentDetails = details) -> [Grant] {
        GrantRules.requests(workload: "wl-1", agent: "spiffe://acme/team/assistants/env/dev/agent/helper", agentName: "helper", team: "assistants",
                            env: "dev", details: details, requestedBy: "dan@acme.example", tools: ["tickets": tool], now: now)
    }

    static func agent(_ details: AgentDetails = details) -> TokenExchange.Agent {
        TokenExchange.Agent(spiffeID: "spiffe://acme/team/assistants/env/dev/agent/helper", workload: WorkloadClaim(wid: "wl-1", att: 1, team: "assistants"),
                            name: "helper", details: details)
    }

    static func person(_ name: String = "dan@acme.example", team: String? = "assistants", admin: Bool = false) -> TokenExchange.Subject {
        .person(name: name, isAdmin: admin, mayChangeTeam: { admin || $0 == team }, expiresAt: nil)
    }
}
