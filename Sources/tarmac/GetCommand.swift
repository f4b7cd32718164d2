import ArgumentParser
import Foundation
import TarmacAPI

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show one workload, by name or id.",
        discussion: """
        Examples:
          tarmac get hello-train
          tarmac get -o yaml wl-3f2a9c01b7e4
        """)

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "The team, when a name is used by several teams.")
    var team: String?

    @Argument(help: "Workload name or id.")
    var workload: String

    func run() async throws {
        try await runClient {
            let c = try client.client()
            let body = try await c.call(.GET, "/v1/workloads/\(ServerClient.path(workload))\(team.map { "?team=\(ServerClient.query($0))" } ?? "")").body
            guard client.output.format == .text else { return try printStructured(body, client.output.format) }
            let w = try ServerClient.decode(WorkloadView.self, body)
            var rows: [(String, String)] = [
                ("id", w.id), ("name", w.name), ("kind", w.kind), ("team", w.team), ("env", w.env), ("size", w.size),
                ("pods", String(w.pods)), ("state", w.stateText), ("attempt", String(w.attempt)),
                ("created", ISO8601DateFormatter().string(from: w.createdAt)),
            ]
            if let s = w.startedAt { rows.append(("started", ISO8601DateFormatter().string(from: s))) }
            if let f = w.finishedAt { rows.append(("finished", ISO8601DateFormatter().string(from: f))) }
            if let c = w.cluster { rows.append(("cluster", c)) }
            if !w.placements.isEmpty { rows.append(("placement", w.placements.map { $0.gpus.isEmpty ? $0.node : "\($0.node) gpus \($0.gpus.map(String.init).joined(separator: ","))" }.joined(separator: "; "))) }
            if let endpoints = w.endpoints, !endpoints.isEmpty { rows.append(("endpoints", endpoints.joined(separator: " "))) }
            if let g = w.gpu { rows.append(("gpu", g.summary)) }
            if let b = w.budget { rows.append(("budget", b)) }
            if let c = w.cause { rows.append(("cause", c)) }
            if let e = w.exitCode { rows.append(("exit code", String(e))) }
            if let m = w.message { rows.append(("message", m)) }
            if let c = w.lastCheckpoint {
                let what = [c.step.map { "step \($0)" }, c.location].compactMap { $0 }.joined(separator: " at ")
                rows.append(("checkpoint", "\(Age.text(since: c.at)) ago, attempt \(c.attempt)\(what.isEmpty ? "" : ": \(what)")"))
            }
            rows.append(("gpu-seconds", String(format: "%.1f", w.gpuSeconds)))
            for (k, v) in rows { print("\(Terminal.bold((k + ":").padding(toLength: 13, withPad: " ", startingAt: 0)))\(v)") }
        }
    }
}
