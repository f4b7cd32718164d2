import ArgumentParser
import Foundation

@main
struct Tarmac: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tarmac",
        abstract: "The paved road from ML engineers to GPU clusters.",
        discussion: """
        Platform engineers describe the platform once (accelerators, pools, sizes, teams, quotas, environments and guardrails); ML engineers submit training jobs, batch jobs, inference services and agents by size.

        Start with:
          export TARMAC_PLATFORM=examples/platform/platform.yaml
          tarmac validate examples/workloads
          tarmac explain --env prod training/large
          tarmac render --out out examples/workloads

        Run the platform on this machine and submit to it:
          tarmac up                                    # in one terminal
          tarmac submit --wait examples/workloads/train-cpu.yaml
          tarmac list; tarmac logs -f hello-train; tarmac why hello-train
        """,
        version: TarmacVersion.current,
        subcommands: [
            ValidateCommand.self, ExplainCommand.self, RenderCommand.self, SimulateCommand.self, SchemaCommand.self,
            UpCommand.self, ApplyPlatformCommand.self, InstallCommand.self, SubmitCommand.self, GetCommand.self, ListCommand.self, LogsCommand.self, CancelCommand.self,
            WhyCommand.self, QueueCommand.self, SizesCommand.self, AuditCommand.self, TokenCommand.self, LoginCommand.self, PodSupervisorCommand.self,
            PodExecCommand.self, GrantCommand.self, WhoCanCommand.self, KeysCommand.self, ModelCommand.self, RolloutCommand.self, RollbackCommand.self, ReviewCommand.self, CostCommand.self, TopCommand.self,
            PortalLinkCommand.self, ClustersCommand.self,
        ]
    )

    /// As ArgumentParser's, but a usage error exits with 2, as documented (README, "Exit codes"), not 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error).rawValue == 64 {
                Terminal.writeError(fullMessage(for: error))
                Terminal.flush()
                Foundation.exit(Exit.usage)
            }
            exit(withError: error)
        }
    }
}

enum TarmacVersion {
    static let current = "0.1.0"
}
