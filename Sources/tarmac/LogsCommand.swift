import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a pod's log; with -f, follow it until the workload ends.",
        discussion: """
        Examples:
          tarmac logs hello-train
          tarmac logs -f --pod 1 ranker-ft
          tarmac logs --attempt 1 hello-train
        """)

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Keep streaming new output until the workload ends.") var follow = false
    @Option(help: "Pod index (default 0).") var pod: Int = 0
    @Option(help: "Attempt (default: the latest).") var attempt: Int?
    @Argument(help: "Workload name or id.") var workload: String

    func run() async throws {
        try await runClient {
            var q = ["pod=\(pod)"]
            if follow { q.append("follow=true") }
            if let attempt { q.append("attempt=\(attempt)") }
            let c = try client.client()
            let resp = try await c.request(.GET, "/v1/workloads/\(ServerClient.path(workload))/logs?" + q.joined(separator: "&"), timeout: .hours(24 * 7))
            guard resp.status.code == 200 else {
                try ServerClient.check(resp.status.code, Data(buffer: try await resp.body.collect(upTo: 1 << 20)))
                return
            }
            for try await chunk in resp.body {
                FileHandle.standardOutput.write(Data(buffer: chunk))
            }
        }
    }
}
