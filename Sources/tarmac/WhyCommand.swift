import ArgumentParser
import Foundation
import TarmacAPI

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "Explain why a workload waits, or how it ended.",
        discussion: """
        A waiting workload has a reason with numbers: quota (what its team lacks), shape (why no placement exists now), reservation, priority or backoff. An ended one shows its triaged cause (OutOfMemory, DeadlineExceeded, ApplicationError with the last log lines, LostOnRestart...).

        Examples:
          tarmac why hello-train
          tarmac why -o json hello-train
        """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "Workload name or id.") var workload: String

    func run() async throws {
        try await runClient {
            let body = try await client.client().call(.GET, "/v1/workloads/\(ServerClient.path(workload))/why").body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let w = try ServerClient.decode(WhyView.self, body)
            // `is queued`, `is running`; `has succeeded`, `has failed`, `was cancelled`, `was rejected`.
            let verb = ["succeeded", "failed"].contains(w.state) ? "has" : ["cancelled", "rejected"].contains(w.state) ? "was" : "is"
            print("\(Terminal.bold(w.name)) (\(w.workload)) \(verb) \(w.state)\(w.reason.map { " [\($0)]" } ?? "")")
            print("  " + w.message)
            if let e = w.estimatedStart {
                print("  " + e.message)
                for a in e.assumptions { print("    assuming " + a) }
            }
        }
    }
}
