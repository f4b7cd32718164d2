import TarmacCore
import ArgumentParser
import Foundation
import TarmacAPI
import TarmacRuntime
import TarmacStoreSQLite
import TarmacStorePostgres

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read, verify and export the hash-chained audit trail.",
        discussion: """
        Every change (submit, cancel, tokens) and every decision (admit, preempt, retry, succeed, fail) is an append-only record that holds the hash of the record before it.

        Examples:
          tarmac audit list --since 2026-11-22
          tarmac audit list --actor agent-for:dan@acme.example --tool tickets
          tarmac audit verify
          tarmac audit verify --data .tarmac        # offline, straight from the store
          tarmac audit export --since 2026-11-01T00:00:00Z > evidence.jsonl
        """,
        subcommands: [List.self, Verify.self, Export.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List audit records.")
        @OptionGroup var client: ClientOptions
        @Option(help: "From this time (RFC 3339 or a date).") var since: String?
        @Option(help: "At most this many records.") var limit: Int = 100
        @Option(help: "Only records of this actor: KIND:ID or a prefix of it (user:alice, workload:spiffe://..., agent-for:dan@acme.example).") var actor: String?
        @Option(help: "Only records of this action (submit, model-register, model-alias, grant-approve, ...).") var action: String?
        @Option(help: "Only records about this tool (calls, token exchanges, grants).") var tool: String?
        @Option(help: "Only records about this workload (its id): transitions, identity, grants, tool calls.") var workload: String?

        func run() async throws {
            try await runClient {
                var q = ["limit=\(limit)"]
                if let since { q.append("since=\(ServerClient.query(since))") }
                if let actor { q.append("actor=\(ServerClient.query(actor))") }
                if let action { q.append("action=\(ServerClient.query(action))") }
                if let tool { q.append("tool=\(ServerClient.query(tool))") }
                if let workload { q.append("workload=\(ServerClient.query(workload))") }
                let body = try await client.client().call(.GET, "/v1/audit?" + q.joined(separator: "&")).body
                guard client.output.format == .text else { return try printStructured(body, client.output.format) }
                let page = try ServerClient.decode(AuditList.self, body)
                let f = ISO8601DateFormatter()
                print(Terminal.table(["SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "DETAIL"], page.items.map {
                    [String($0.seq), f.string(from: $0.time), "\($0.actorKind):\($0.actorID)", $0.action, $0.object, $0.detail]
                }))
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that no record was edited, deleted, inserted or reordered, and that the tail matches the anchors; names every bad record (exit 1).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Verify the store in this data directory directly, without a server.") var data: String?
        @Option(help: ArgumentHelp("Verify the PostgreSQL store at this URL directly, without a server (password from PGPASSWORD).", valueName: "url"))
        var store: String?
        @Option(help: "With --data: the audit anchor file to check the chain against (default: DATA/audit-anchors.jsonl).") var anchors: String?

        func run() async throws {
            try await runClient {
                let body: Data
                if let store {
                    guard data == nil else { throw ValidationError("give --store or --data, not both") }
                    let pg: PostgresStore
                    do { pg = try PostgresStore(try PostgresLocation(url: store)) } catch { throw ValidationError("--store: \(error)") }
                    defer { pg.close() }
                    let anchorFile = anchors
                    if let anchorFile, !FileManager.default.fileExists(atPath: anchorFile) { throw ValidationError("no anchor file at \(anchorFile)") }
                    body = try JSONEncoder().encode(AuditChain.verify(try await pg.auditRecords(since: nil, limit: nil), anchors: try anchorFile.map(AuditAnchor.read) ?? []))
                } else if let data {
                    let path = data + "/tarmac.db"
                    guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no store at \(path)") }
                    let anchorFile = anchors ?? AuditAnchor.defaultPath(data: data)
                    if anchors != nil, !FileManager.default.fileExists(atPath: anchorFile) { throw ValidationError("no anchor file at \(anchorFile)") }
                    let store = try SQLiteStore(path: path)
                    let enc = JSONEncoder()
                    body = try enc.encode(AuditChain.verify(try await store.auditRecords(since: nil, limit: nil), anchors: try AuditAnchor.read(anchorFile)))
                } else {
                    body = try await client.client().call(.GET, "/v1/audit/verify").body
                }
                let v = try ServerClient.decode(AuditVerification.self, body)
                if client.output.format == .text {
                    let anchored = v.anchorsChecked > 0 ? "; \(v.anchorsChecked) anchor\(v.anchorsChecked == 1 ? "" : "s") match" : "; no anchor to check the tail against"
                    if v.ok {
                        print("audit chain intact: \(v.records) records; head \(v.head)\(anchored)")
                    } else {
                        print("audit chain BROKEN at record \(v.firstBad.map(String.init) ?? "?"): \(v.problems.count) problem\(v.problems.count == 1 ? "" : "s")")
                        for p in v.problems { print("  record \(p.seq): \(p.message)") }
                    }
                } else {
                    try printStructured(body, client.output.format)
                }
                if !v.ok { throw ExitCode(1) }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write records as JSON Lines (one record per line) to standard output.")
        @OptionGroup var client: ClientOptions
        @Option(help: "From this time (RFC 3339 or a date).") var since: String?

        func run() async throws {
            try await runClient {
                let body = try await client.client().call(.GET, "/v1/audit/export" + (since.map { "?since=\(ServerClient.query($0))" } ?? "")).body
                FileHandle.standardOutput.write(body)
            }
        }
    }
}
