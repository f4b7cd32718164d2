import ArgumentParser
import Foundation
import TarmacAPI

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a workload: queued ones end at once, running ones get SIGTERM, then SIGKILL after the grace period.",
        discussion: """
        Examples:
          tarmac cancel hello-train
          tarmac cancel --wait wl-3f2a9c01b7e4
        """)

    @OptionGroup var client: ClientOptions

    @Flag(help: "Wait until its pods have stopped.") var wait = false

    @Argument(help: "Workload name or id.") var workload: String

    func run() async throws {
        try await runClient {
            let c = try client.client()
            let body = try await c.call(.POST, "/v1/workloads/\(ServerClient.path(workload))/cancel").body
            let w = try ServerClient.decode(WorkloadView.self, body)
            if client.output.format == .text {
                print("\(w.kind) \(w.name): \(w.isTerminal ? w.state : wait ? "cancelling; waiting for its pods to stop" : "cancelling")")
                Terminal.flush()
            } else {
                try printStructured(body, client.output.format)
            }
            if wait && !w.isTerminal {
                do { try await WaitLoop.run(c, id: w.id, quiet: client.output.format != .text) } catch let e as ExitCode where e.rawValue == Exit.cancelled {}
                if client.output.format == .text {
                    let end = try await c.get("/v1/workloads/\(w.id)", as: WorkloadView.self)
                    print("\(end.kind) \(end.name): \(end.state)")
                }
            }
        }
    }
}
