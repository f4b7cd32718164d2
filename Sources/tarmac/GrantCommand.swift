import ArgumentParser
import Foundation
import TarmacAPI

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "List, approve, deny and revoke agents' grants of tool scopes.",
        discussion: """
        An Agent's `tools` become grants when it is submitted: one per tool and scope. The contract says per scope whether a grant needs approval (a tool's `grants.SCOPE.approvers`: role:admin or team:NAME; sensitive scopes need an admin unless it says otherwise) and its longest lifetime. The person who submitted the agent, and the person it acts for, never approve it. A revocation is refused at the tool gateway from the next call on, even for tokens that have not expired.

        Examples:
          tarmac grant list --state pending
          tarmac grant list --tool tickets --agent support-agent
          tarmac grant approve grt-3f09c2a1b7d4 --lifetime 8h
          tarmac grant deny grt-3f09c2a1b7d4 --reason "not for prod data"
          tarmac grant revoke grt-3f09c2a1b7d4 --reason "incident 4411"
        """,
        subcommands: [List.self, Approve.self, Deny.self, Revoke.self])

    static func table(_ items: [GrantView]) -> String {
        let f = ISO8601DateFormatter()
        return Terminal.table(["ID", "AGENT", "TEAM", "TOOL:SCOPE", "FOR", "STATE", "APPROVERS", "DECIDED BY", "UNTIL"], items.map {
            [$0.id, $0.agentName, $0.team, "\($0.tool):\($0.scope)", $0.onBehalfOf ?? "(itself)", $0.state, $0.approvers ?? "contract",
             $0.decidedBy ?? "-", $0.expiresAt.map { f.string(from: $0) } ?? ($0.state == "approved" ? "agent ends" : "-")]
        })
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List grants you may read, newest first.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only this tool.") var tool: String?
        @Option(help: "Only this scope.") var scope: String?
        @Option(help: "pending, approved, expired, denied, revoked or ended.") var state: String?
        @Option(help: "Only this agent (name or workload id).") var agent: String?

        func run() async throws {
            try await runClient {
                var q: [String] = []
                for (k, v) in [("tool", tool), ("scope", scope), ("state", state), ("agent", agent)] { if let v { q.append("\(k)=\(ServerClient.query(v))") } }
                let body = try await client.client().call(.GET, "/v1/grants" + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))).body
                guard client.output.format == .text else { return try printStructured(body, client.output.format) }
                let items = try ServerClient.decode(GrantList.self, body).items
                print(items.isEmpty ? "no grants" : GrantCommand.table(items))
            }
        }
    }

    static func decide(_ client: ClientOptions, _ id: String, _ verb: String, _ body: [String: Any]) async throws {
        let data = try await client.client().call(.POST, "/v1/grants/\(ServerClient.path(id))/\(verb)", body: try JSONSerialization.data(withJSONObject: body),
                                                  contentType: "application/json").body
        guard client.output.format == .text else { return try printStructured(data, client.output.format) }
        let g = try ServerClient.decode(GrantView.self, data)
        // Only an approved grant runs until a time; a revoked, denied or ended one is over for good.
        let until = g.state == "approved" ? g.expiresAt.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? "" : ""
        let by = g.decidedBy.map { " by \($0)" } ?? ""
        print("grant \(g.id) (\(g.agentName) \(g.tool):\(g.scope)) \(g.state)\(g.state == "approved" ? "" : by)\(until)")
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending grant (you must be one of its approvers, and not its requester).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Grant id (grt-...).") var id: String
        @Option(help: "How long it lasts, e.g. 8h (default: the contract's maxLifetime, else while the agent runs).") var lifetime: String?

        func run() async throws {
            try await runClient {
                var body: [String: Any] = [:]
                if let lifetime {
                    guard let s = TokenCommand.Create.seconds(lifetime) else { throw ValidationError("--lifetime must look like 90m, 12h or 30d") }
                    body["lifetimeSeconds"] = s
                }
                try await GrantCommand.decide(client, id, "approve", body)
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a pending grant.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Grant id (grt-...).") var id: String
        @Option(help: "Why (kept in the audit trail).") var reason: String?

        func run() async throws {
            try await runClient { try await GrantCommand.decide(client, id, "deny", reason.map { ["reason": $0] } ?? [:]) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a grant: the gateway refuses its scope from the next call on.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Grant id (grt-...).") var id: String
        @Option(help: "Why (kept in the audit trail).") var reason: String?

        func run() async throws {
            try await runClient { try await GrantCommand.decide(client, id, "revoke", reason.map { ["reason": $0] } ?? [:]) }
        }
    }
}

struct WhoCanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who-can",
        abstract: "Which agents may use a tool (and scope) now, for whom, and until when.",
        discussion: """
        Lists the grants in force: approved, not expired, not revoked, of agents that have not ended.

        Examples:
          tarmac who-can tickets
          tarmac who-can tickets:close -o json
        """)
    @OptionGroup var client: ClientOptions
    @Argument(help: "TOOL or TOOL:SCOPE.") var target: String

    func run() async throws {
        try await runClient {
            let parts = target.split(separator: ":", maxSplits: 1).map(String.init)
            guard let tool = parts.first, !tool.isEmpty else { throw ValidationError("name a tool: tarmac who-can TOOL[:SCOPE]") }
            var q = "tool=\(ServerClient.query(tool))"
            if parts.count > 1 { q += "&scope=\(ServerClient.query(parts[1]))" }
            let body = try await client.client().call(.GET, "/v1/who-can?" + q).body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let items = try ServerClient.decode(GrantList.self, body).items
            print(items.isEmpty ? "no agent may use \(target) now" : GrantCommand.table(items))
        }
    }
}

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the keys that sign workload identities and tool tokens (admins).",
        discussion: """
        Keys are ES256, stored sealed in the data directory's store, and rotate on the contract's schedule (identity.keyRotation, default 24h). After a rotation the old key stays in /.well-known/jwks.json until the last token it signed expired, so no valid token stops verifying.

        Examples:
          tarmac keys rotate
        """,
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a new signing key; the old one verifies until its tokens expire.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await runClient {
                let body = try await client.client().call(.POST, "/v1/keys/rotate").body
                guard client.output.format == .text else { return try printStructured(body, client.output.format) }
                let v = try ServerClient.decode(KeyRotationView.self, body)
                print("signing key \(v.kid) now signs; published: \(v.published.joined(separator: ", "))")
            }
        }
    }
}
