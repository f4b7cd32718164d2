import ArgumentParser
import Foundation
import TarmacAPI

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List workloads you may see.",
        discussion: """
        Examples:
          tarmac list
          tarmac list --team search --state running
          tarmac list --kind TrainingJob -o json
        """)

    @OptionGroup var client: ClientOptions

    @Option(help: "Only this team's workloads.") var team: String?
    @Option(help: "Only this kind (TrainingJob, BatchJob, InferenceService, Agent).") var kind: String?
    @Option(help: "Only this state (queued, admitted, running, succeeded, failed, cancelled, rejected).") var state: String?

    static let states = ["queued", "admitted", "running", "succeeded", "failed", "cancelled", "rejected"]
    static let kinds = ["TrainingJob", "BatchJob", "InferenceService", "Agent"]

    func validate() throws {
        if let state, !Self.states.contains(state) {
            throw ValidationError("unknown --state '\(state)'; use one of \(Self.states.joined(separator: ", "))")
        }
        if let kind, !Self.kinds.contains(kind) {
            let close = Self.kinds.first { $0.lowercased() == kind.lowercased() }
            throw ValidationError("unknown --kind '\(kind)'\(close.map { "; did you mean '\($0)'?" } ?? ""); use one of \(Self.kinds.joined(separator: ", "))")
        }
    }

    func run() async throws {
        try await runClient {
            var q: [String] = []
            if let team { q.append("team=\(ServerClient.query(team))") }
            if let kind { q.append("kind=\(ServerClient.query(kind))") }
            if let state { q.append("state=\(ServerClient.query(state))") }
            let body = try await client.client().call(.GET, "/v1/workloads" + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))).body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let list = try ServerClient.decode(WorkloadList.self, body)
            guard !list.items.isEmpty else { return Terminal.writeError("no workloads") }
            print(Terminal.table(["NAME", "KIND", "TEAM", "ENV", "SIZE", "STATE", "ATTEMPT", "AGE", "ID"], list.items.map {
                [$0.name, $0.kind, $0.team, $0.env, $0.size, $0.stateText, String($0.attempt), Age.text(since: $0.createdAt), $0.id]
            }))
        }
    }
}
