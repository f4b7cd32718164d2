import ArgumentParser
import Foundation
import Logging
import TarmacContract
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests

struct ApplyPlatformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-platform",
        abstract: "Apply the platform's cluster objects to a Kubernetes cluster and report drift.",
        discussion: """
        Renders the platform as `tarmac render` does (namespaces with Pod Security `restricted`, ResourceQuotas, LimitRanges, NetworkPolicies, PriorityClasses, ValidatingAdmissionPolicies, and the RBAC of the control plane's own identity for workload identity and the gateway's Secret) and applies each object that is missing or differs with server-side apply, as field manager `tarmac`. Drift is what differed in the fields Tarmac sets; the server's defaults and other managers' fields are not drift. `tarmac up --backend kubernetes` does the same at start and every minute.

        The admission policies let only the control plane's own identity create GPU workloads: by default the identity of these credentials (as the API server reports it), or the one --controller-user names.

        Exit status: 0 when everything is applied (or, with --dry-run, nothing differs), 1 when an object failed (or, with --dry-run, something would change), 5 when the cluster cannot be reached.

        Examples:
          tarmac apply-platform --platform platform.yaml --dry-run
          tarmac apply-platform --context gpu-cluster -o json
        """)

    @OptionGroup var platform: PlatformOption
    @OptionGroup(title: "Cluster") var cluster: ClusterOptions
    @Flag(help: "Compare and let the server check each change (dryRun=All), without changing anything.") var dryRun = false
    @Option(help: "The user the admission policies let create GPU workloads (default: these credentials' identity).") var controllerUser: String?
    @Option(name: .shortAndLong, help: "Output format: text, json or yaml.") var output: OutputFormatOption = .text

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let path = try platform.required()
        let contract = try PlatformOption.load(path, nothing: "nothing was applied")
        let access = try cluster.access()
        let client = try KubeClient(access)
        let backend = KubernetesBackend(client: client, contract: contract,
                                        options: KubernetesBackendOptions(logDirectory: NSTemporaryDirectory(), controllerUser: controllerUser))
        let outcomes: [PlatformSync.Outcome]
        do {
            try await backend.start(onlyIdentity: true)
            outcomes = try await backend.applyPlatform(dryRun: dryRun)
        } catch {
            Terminal.writeError(Terminal.paint("error", "31;1") + ": cannot reach the cluster at \(access.server): \(error)")
            throw ExitCode(5)
        }
        switch output.format {
        case .text:
            var rows: [[String]] = []
            for o in outcomes {
                rows.append([o.kind, o.namespace ?? "-", o.name, o.action.rawValue, o.error ?? o.drift.first ?? ""])
                for d in o.drift.dropFirst() { rows.append(["", "", "", "", d]) }
            }
            print(Terminal.table(["KIND", "NAMESPACE", "NAME", "RESULT", "DRIFT"], rows))
            let count: (PlatformSync.Action) -> Int = { a in outcomes.filter { $0.action == a }.count }
            print(dryRun
                  ? "\(outcomes.count) objects: \(count(.wouldCreate)) would be created, \(count(.wouldUpdate)) would be updated, \(count(.unchanged)) unchanged, \(count(.failed)) failed (dry run, as \(await backend.controllerUser))"
                  : "\(outcomes.count) objects: \(count(.created)) created, \(count(.updated)) updated (drift corrected), \(count(.unchanged)) unchanged, \(count(.failed)) failed (as \(await backend.controllerUser))")
        default:
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try printStructured(try enc.encode(outcomes), output.format)
        }
        let failed = outcomes.contains { $0.action == .failed }
        let changes = outcomes.contains { $0.action == .wouldCreate || $0.action == .wouldUpdate }
        if failed || (dryRun && changes) { throw ExitCode(1) }
    }
}
