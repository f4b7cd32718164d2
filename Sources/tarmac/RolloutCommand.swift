import ArgumentParser
import Foundation
import TarmacAPI
import TarmacDelivery

struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Move a running InferenceService to another model version: canary steps or blue-green, gated on the gateway's measurements.",
        discussion: """
        The new version starts beside the serving one (a copy of its document with the new model); once it serves, the inference gateway moves the shares step by step. An analysis step measures the new version over its window against the rules: one failing rule rolls back at once (every request to the previous version), all passing goes on; with too few requests it measures again. After the last step the new version takes every request and the previous one stays warm for --rollback-window, so `tarmac rollback` is one routing change. Needs tarmac up --inference-port, or --backend kubernetes (the service's HTTPRoute carries the shares; analysis reads the contract's metrics.prometheus). The rollout can also be written in the service's document (spec.rollout: strategy, steps, rules, rollbackWindow): submitting the document with the next model version starts it.

        Examples:
          tarmac rollout start ranker --to 1.1.0 \\
            --steps "10,analysis 60s,50,analysis 60s" --min-success-rate 0.99
          tarmac rollout start ranker --to 1.1.0 --blue-green \\
            --preview-window 2m --min-success-rate 0.99 --min-requests 20
          # preview requests carry the header X-Tarmac-Version: 1.1.0
          tarmac rollout status ranker
          tarmac rollout promote ranker
          tarmac rollout abort ranker
          tarmac rollback ranker
        """,
        subcommands: [Start.self, Status.self, List.self, Promote.self, Abort.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a rollout.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The InferenceService's name.") var service: String
        @Option(help: "The model version to move to.") var to: String
        @Option(help: "Its team (default: your token's).") var team: String?
        @Option(help: ArgumentHelp("Canary steps, comma-separated: a share (10), 'analysis 60s', 'pause 30s', 'pause' (until promoted).", valueName: "STEPS"))
        var steps: String?
        @Flag(help: "Blue-green: the new version takes no share, only the requests that ask for it (header X-Tarmac-Version: V) while it is measured for --preview-window; then every request at once.") var blueGreen = false
        @Option(help: "Blue-green: how long the new version is measured on preview requests before the switch, e.g. 60s, 5m (default 5m).") var previewWindow: String?
        @Option(help: "Rule: share of requests answered without a 5xx, at least (0 to 1).") var minSuccessRate: Double?
        @Option(help: "Rule: p99 latency in ms, at most.") var maxP99: Double?
        @Option(help: "Rule: p99 time to first token of streamed answers in ms, at most.") var maxTtft: Double?
        @Option(help: "Fewer requests than this in a window: no verdict, measure again.") var minRequests: Int = 50
        @Option(help: "How long the previous version stays warm after a promotion, e.g. 30m, 1h.") var rollbackWindow: String = "1h"

        func run() async throws {
            guard let window = RolloutSpec.seconds(rollbackWindow) else { throw ValidationError("--rollback-window must look like 30m or 1h") }
            var preview: Int64?
            if let p = previewWindow {
                guard blueGreen else { throw ValidationError("--preview-window is for --blue-green rollouts") }
                guard let s = RolloutSpec.seconds(p), s > 0 else { throw ValidationError("--preview-window must look like 60s or 5m") }
                preview = s
            }
            var rules: [AnalysisRuleBody] = []
            if let v = minSuccessRate { rules.append(.init(metric: "successRate", threshold: v, minRequests: minRequests)) }
            if let v = maxP99 { rules.append(.init(metric: "p99LatencyMs", threshold: v, minRequests: minRequests)) }
            if let v = maxTtft { rules.append(.init(metric: "timeToFirstTokenMs", threshold: v, minRequests: minRequests)) }
            let body = RolloutRequest(team: team, service: service, to: to, strategy: blueGreen ? "blueGreen" : "canary",
                                      steps: steps.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                      rules: rules, rollbackWindowSeconds: window, previewSeconds: preview)
            try await runClient {
                let data = try await client.client().call(.POST, "/v1/rollouts", body: try APIJSON.encoder.encode(body), contentType: "application/json").body
                try RolloutCommand.show(data, client.output.format)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where a service's rollout stands: phase, shares, why.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The InferenceService's name.") var service: String
        @Option(help: "Its team.") var team: String?
        func run() async throws {
            try await runClient {
                let data = try await client.client().call(.GET, "/v1/rollouts/\(ServerClient.path(service))" + (team.map { "?team=\(ServerClient.query($0))" } ?? "")).body
                try RolloutCommand.show(data, client.output.format)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rollouts you may see, running and ended.")
        @OptionGroup var client: ClientOptions
        func run() async throws {
            try await runClient {
                let data = try await client.client().call(.GET, "/v1/rollouts").body
                guard client.output.format == .text else { return try printStructured(data, client.output.format) }
                let items = try ServerClient.decode(RolloutList.self, data).items
                print(Terminal.table(["TEAM", "SERVICE", "FROM", "TO", "PHASE", "SHARES"], items.map {
                    [$0.team, $0.service, $0.from, $0.to, $0.phase, RolloutCommand.shares($0)]
                }))
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Skip the remaining steps: the new version takes every request.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The InferenceService's name.") var service: String
        @Option(help: "Its team.") var team: String?
        func run() async throws { try await RolloutCommand.act(client, service, team, "promote") }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the rollout: every request back on the previous version; the new one is let go.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The InferenceService's name.") var service: String
        @Option(help: "Its team.") var team: String?
        func run() async throws { try await RolloutCommand.act(client, service, team, "abort") }
    }

    static func act(_ client: ClientOptions, _ service: String, _ team: String?, _ verb: String) async throws {
        try await runClient {
            let started = Date()
            let data = try await client.client().call(.POST, "/v1/rollouts/\(ServerClient.path(service))/\(verb)" + (team.map { "?team=\(ServerClient.query($0))" } ?? "")).body
            try show(data, client.output.format)
            if client.output.format == .text { Terminal.writeError(String(format: "(%@ took %.3f s)", verb, Date().timeIntervalSince(started))) }
        }
    }

    static func shares(_ v: RolloutView) -> String {
        v.weights.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)%" }.joined(separator: " ")
    }

    static func show(_ data: Data, _ format: OutputFormat) throws {
        guard format == .text else { return try printStructured(data, format) }
        let v = try ServerClient.decode(RolloutView.self, data)
        var rows = [["service", "\(v.team)/\(v.service) (\(v.env))"], ["from", "\(v.from) (\(v.fromWorkload))"], ["to", "\(v.to) (\(v.toWorkload))"],
                    ["strategy", v.strategy + (v.steps.isEmpty ? "" : ": " + v.steps.joined(separator: ", "))], ["phase", v.phase], ["why", v.message],
                    ["shares", shares(v)], ["started", "\(ISO8601DateFormatter().string(from: v.startedAt)) by \(v.startedBy)"]]
        if let w = v.previousWarm { rows.append(["rollback", w ? "warm: one routing change" : "cold: the previous version must start again"]) }
        if let c = v.coldStartSeconds { rows.append(["cold start", String(format: "%.1f s until the previous version served again", c)]) }
        print(rows.map { $0[0].padding(toLength: 11, withPad: " ", startingAt: 0) + $0[1] }.joined(separator: "\n"))
    }
}

/// `tarmac rollback SERVICE`: after a promotion, every request back on the previous version in one step.
struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Send every request of a service back to the version it served before its last rollout.",
        discussion: """
        Within the rollback window the previous version is still warm and this is one routing change; after it, the previous version starts again first and the time it took is shown (tarmac rollout status).

        Examples:
          tarmac rollback ranker
          tarmac rollback ranker --team search -o json
        """)
    @OptionGroup var client: ClientOptions
    @Argument(help: "The InferenceService's name.") var service: String
    @Option(help: "Its team.") var team: String?
    func run() async throws { try await RolloutCommand.act(client, service, team, "rollback") }
}
