import ArgumentParser
import Foundation
import TarmacContract
import TarmacModel

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show resolved contract values and the file:line each one came from.",
        discussion: """
        Values are resolved through the contract's layers: the extends chain, then the environment's overlay (--env), then the team's overrides (--team).

        Examples:
          export TARMAC_PLATFORM=examples/platform/platform.yaml
          tarmac explain
          tarmac explain --env prod inference/s
          tarmac explain --team ads medium -o json
        """)

    @OptionGroup var platform: PlatformOption

    @Option(name: .long, help: "Environment whose overlay applies.")
    var env: String?

    @Option(name: .long, help: "Team whose overrides apply.")
    var team: String?

    @Option(name: .shortAndLong, help: "Output format: text, json or yaml.")
    var output: String = "text"

    @Argument(help: "A size: NAME or CLASS/NAME (e.g. large, training/large). Omit to show the whole contract.")
    var size: String?

    func run() throws {
        guard let format = OutputFormat(rawValue: output), format != .csv else { throw ValidationError("unknown output format '\(output)'; use text, json or yaml") }
        let path = try platform.required()
        let loaded = ContractLoader.load(path)
        guard let contract = loaded.contract else {
            for d in loaded.diagnostics { print(Terminal.render(d)) }
            throw ExitCode(1)
        }
        let explanation: Explanation
        switch Explainer.explain(contract, env: env, team: team, size: size) {
        case .success(let e): explanation = e
        case .failure(let f):
            Terminal.writeError("error: \(f)")
            throw ExitCode(1)
        }
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(explanation), as: UTF8.self))
        case .yaml:
            print("subject: \(explanation.subject)")
            if let e = explanation.env { print("env: \(e)") }
            if let t = explanation.team { print("team: \(t)") }
            print("values:")
            for r in explanation.rows { print("  - {path: \"\(r.path)\", value: \"\(r.value)\", source: \"\(r.source)\"}") }
            if !explanation.facts.isEmpty { print("facts:"); for f in explanation.facts { print("  - \"\(f)\"") } }
        case .text, .csv:
            var title = explanation.subject
            if let e = explanation.env { title += "  env=\(e)" }
            if let t = explanation.team { title += "  team=\(t)" }
            print(Terminal.bold(title))
            print(Terminal.table(["FIELD", "VALUE", "SOURCE"], explanation.rows.map { [$0.path, $0.value, "\($0.source)"] }))
            for f in explanation.facts { print("• " + f) }
        }
    }
}
