import ArgumentParser
import Foundation
import TarmacAPI

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show queued workloads in order, with why each waits.",
        discussion: """
        Examples:
          tarmac queue
          tarmac queue -o yaml
        """)

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient {
            let body = try await client.client().call(.GET, "/v1/queue").body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let q = try ServerClient.decode(QueueView.self, body)
            guard !q.items.isEmpty else { return Terminal.writeError("the queue is empty") }
            print(Terminal.table(["#", "NAME", "TEAM", "SIZE", "WAITING", "REASON"], q.items.map {
                [String($0.position), $0.workload.name, $0.workload.team, $0.workload.size, Age.text(since: $0.workload.createdAt), $0.message]
            }))
        }
    }
}
