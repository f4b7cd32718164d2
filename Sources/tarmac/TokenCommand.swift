import ArgumentParser
import Foundation
import TarmacAPI

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke API tokens (admins).",
        discussion: """
        Roles: admin (everything), member (sees and changes its team's workloads), viewer (reads; with --team only that team). The secret is printed once; only its hash is stored.

        Examples:
          tarmac token create --team search --role member --ttl 30d --name alice
          tarmac token create --role viewer --name dashboards
          tarmac token list
          tarmac token revoke tok-5d1c0a6e2f3b
        """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret once.")
        @OptionGroup var client: ClientOptions
        @Option(help: "admin, member or viewer.") var role: String
        @Option(help: "The team it is bound to (required for members).") var team: String?
        @Option(help: "A name for it (shown in the audit trail).") var name: String?
        @Option(help: "Time to live, e.g. 12h, 30d, 90m.") var ttl: String?

        func run() async throws {
            try await runClient {
                var body: [String: Any] = ["role": role]
                if let team { body["team"] = team }
                if let name { body["name"] = name }
                if let ttl {
                    guard let s = Self.seconds(ttl) else { throw ValidationError("--ttl must look like 90m, 12h or 30d") }
                    body["ttlSeconds"] = s
                }
                let data = try await client.client().call(.POST, "/v1/tokens", body: try JSONSerialization.data(withJSONObject: body), contentType: "application/json").body
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                print(obj["secret"] as? String ?? "")
                Terminal.writeError("token \(obj["id"] as? String ?? "") (\(obj["role"] as? String ?? "")\((obj["team"] as? String).map { ", team \($0)" } ?? "")) created; the secret above is shown only once")
            }
        }

        static func seconds(_ s: String) -> Double? {
            guard let unit = s.last, let n = Double(s.dropLast()), n > 0 else { return nil }
            switch unit {
            case "s": return n
            case "m": return n * 60
            case "h": return n * 3600
            case "d": return n * 86400
            default: return nil
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await runClient {
                let body = try await client.client().call(.GET, "/v1/tokens").body
                guard client.output.format == .text else { return try printStructured(body, client.output.format) }
                let f = ISO8601DateFormatter()
                print(Terminal.table(["ID", "NAME", "ROLE", "TEAM", "EXPIRES", "STATUS"], try ServerClient.decode(TokenList.self, body).items.map {
                    [$0.id, $0.name, $0.role, $0.team ?? "-", $0.expiresAt.map { f.string(from: $0) } ?? "never", $0.revoked ? "revoked" : "active"]
                }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Token id (tok-...).") var id: String

        func run() async throws {
            try await runClient {
                _ = try await client.client().call(.DELETE, "/v1/tokens/\(ServerClient.path(id))")
                print("token \(id) revoked")
            }
        }
    }
}
