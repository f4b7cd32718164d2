import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TarmacAPI

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a pod's log; with -f, follow it until the workload ends.",
        discussion: """
        With -f on a workload that has not started, it waits for it (saying why it waits) and then follows. A workload with several pods shows pod 0 unless told otherwise (--pod N, or --all with each line prefixed by its pod).

        Examples:
          tarmac logs hello-train
          tarmac logs -f --pod 1 ranker-ft
          tarmac logs --all count-words
          tarmac logs --attempt 1 hello-train
        """)

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Keep streaming new output until the workload ends (waiting for it to start).") var follow = false
    @Option(help: "Pod index (default: 0).") var pod: Int?
    @Flag(help: "Every pod's log, each line prefixed with [pod N].") var all = false
    @Option(help: "Attempt (default: the latest).") var attempt: Int?
    @Argument(help: "Workload name or id.") var workload: String

    func validate() throws {
        if all && pod != nil { throw ValidationError("--all and --pod exclude each other") }
        if let pod, pod < 0 { throw ValidationError("--pod must be 0 or more") }
    }

    func run() async throws {
        try await runClient {
            let c = try client.client()
            var w = try await c.get("/v1/workloads/\(ServerClient.path(workload))", as: WorkloadView.self)
            if follow && w.attempt == 0 && attempt == nil {
                w = try await waitForStart(c, w)
            }
            let pods = all ? Array(0..<max(1, w.pods)) : [pod ?? 0]
            if pods.count == 1 {
                try await stream(c, id: w.id, pod: pods[0], prefix: nil)
                if pod == nil && !all && w.pods > 1 {
                    Terminal.writeError("(pod 0 of \(w.pods); the others: \((1..<w.pods).map { "--pod \($0)" }.joined(separator: ", ")), or --all)")
                }
                return
            }
            let me = self, id = w.id
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in pods { group.addTask { try await me.stream(c, id: id, pod: p, prefix: "[pod \(p)] ") } }
                try await group.waitForAll()
            }
        }
    }

    /// Waits until the workload's first attempt starts (or it ends without one), saying why it waits when that changes.
    func waitForStart(_ c: ServerClient, _ first: WorkloadView) async throws -> WorkloadView {
        var w = first
        var said = ""
        while w.attempt == 0 && !w.isTerminal {
            let why = try? await c.get("/v1/workloads/\(ServerClient.path(w.id))/why", as: WhyView.self)
            let line = "waiting for \(w.name) to start: \(why?.message ?? w.state)"
            if line != said {
                Terminal.writeError(line)
                said = line
            }
            try await Task.sleep(for: .milliseconds(500))
            w = try await c.get("/v1/workloads/\(ServerClient.path(w.id))", as: WorkloadView.self)
        }
        return w
    }

    func stream(_ c: ServerClient, id: String, pod: Int, prefix: String?) async throws {
        var q = ["pod=\(pod)"]
        if follow { q.append("follow=true") }
        if let attempt { q.append("attempt=\(attempt)") }
        let resp = try await c.request(.GET, "/v1/workloads/\(ServerClient.path(id))/logs?" + q.joined(separator: "&"), timeout: .hours(24 * 7))
        guard resp.status.code == 200 else {
            try ServerClient.check(resp.status.code, Data(buffer: try await resp.body.collect(upTo: 1 << 20)))
            return
        }
        guard let prefix else {
            for try await chunk in resp.body { FileHandle.standardOutput.write(Data(buffer: chunk)) }
            return
        }
        // Whole lines only, so pods' lines never interleave mid-line.
        var pending = Data()
        for try await chunk in resp.body {
            pending.append(Data(buffer: chunk))
            while let nl = pending.firstIndex(of: 0x0A) {
                FileHandle.standardOutput.write(Data(prefix.utf8) + pending[pending.startIndex...nl])
                pending = Data(pending[(nl + 1)...])
            }
        }
        if !pending.isEmpty { FileHandle.standardOutput.write(Data(prefix.utf8) + pending + Data("\n".utf8)) }
    }
}
