import ArgumentParser
import Foundation
import Logging
import TarmacContract
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacModel

struct ApplyPlatformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-platform",
        abstract: "Apply the platform's cluster objects to a Kubernetes cluster and report drift.",
        discussion: """
        Renders the platform as `tarmac render` does (namespaces with Pod Security `restricted`, ResourceQuotas, LimitRanges, NetworkPolicies, PriorityClasses, ValidatingAdmissionPolicies, and the RBAC of the control plane's own identity for workload identity and the gateway's Secret) and applies each object that is missing or differs with server-side apply, as field manager `tarmac`. Drift is what differed in the fields Tarmac sets; the server's defaults and other managers' fields are not drift. `tarmac up --backend kubernetes` does the same at start and every minute.

        The admission policies let only the control plane's own identity create GPU workloads: by default the identity of these credentials (as the API server reports it), or the one --controller-user names.

        Exit status: 0 when everything is applied (or, with --dry-run, nothing differs), 1 when an object failed (or, with --dry-run, something would change), 5 when the cluster cannot be reached.

        A contract that names clusters (spec.clusters) is applied to each of them, reached as it says (--cluster NAME: only that one); the table then has a CLUSTER column.

        Examples:
          tarmac apply-platform --platform platform.yaml --dry-run
          tarmac apply-platform --context gpu-cluster -o json
          tarmac apply-platform --cluster prod-east --dry-run
        """)

    @OptionGroup var platform: PlatformOption
    @OptionGroup(title: "Cluster") var cluster: ClusterOptions
    @Flag(help: "Compare and let the server check each change (dryRun=All), without changing anything.") var dryRun = false
    @Option(help: "The user the admission policies let create GPU workloads (default: these credentials' identity).") var controllerUser: String?
    @Option(name: .shortAndLong, help: "Output format: text, json or yaml.") var output: OutputFormatOption = .text
    @Option(name: .customLong("cluster"), help: "With a contract that names clusters: only this one (repeatable; default: every cluster).")
    var only: [String] = []

    /// One cluster's outcomes, for the structured output of several.
    struct ClusterOutcomes: Encodable {
        var cluster: String
        var outcomes: [PlatformSync.Outcome]
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let path = try platform.required()
        let contract = try PlatformOption.load(path, nothing: "nothing was applied")
        var targets: [(name: String?, access: ClusterAccess)] = []
        let named = contract.platform.clusters.map(\.name)
        for n in only where !named.contains(n) {
            throw ValidationError("--cluster \(n): the contract names no such cluster" + Suggestions.hint(for: n, in: named, noun: "clusters"))
        }
        if contract.platform.clusters.isEmpty {
            targets = [(nil, try cluster.access())]
        } else {
            for c in contract.platform.clusters where only.isEmpty || only.contains(c.name) {
                do { targets.append((c.name, try await FleetSetup.access(c, via: cluster))) } catch {
                    Terminal.writeError(Terminal.paint("error", "31;1") + ": cluster \(c.name) (\(c.kubeconfig)): \(error)")
                    throw ExitCode(5)
                }
            }
        }
        var all: [(cluster: String?, outcomes: [PlatformSync.Outcome], user: String)] = []
        for (name, access) in targets {
            let client = try KubeClient(access)
            let backend = KubernetesBackend(client: client, contract: contract,
                                            options: KubernetesBackendOptions(logDirectory: NSTemporaryDirectory(), controllerUser: controllerUser))
            do {
                try await backend.start(onlyIdentity: true)
                all.append((name, try await backend.applyPlatform(dryRun: dryRun), await backend.controllerUser))
            } catch {
                Terminal.writeError(Terminal.paint("error", "31;1") + ": cannot reach \(name.map { "cluster \($0) " } ?? "the cluster ")at \(access.server): \(error)")
                throw ExitCode(5)
            }
        }
        let outcomes = all.flatMap(\.outcomes)
        let several = all.contains { $0.cluster != nil }
        switch output.format {
        case .text:
            var rows: [[String]] = []
            for (name, list, _) in all {
                for o in list {
                    rows.append((several ? [name ?? "-"] : []) + [o.kind, o.namespace ?? "-", o.name, o.action.rawValue, o.error ?? o.drift.first ?? ""])
                    for d in o.drift.dropFirst() { rows.append((several ? [""] : []) + ["", "", "", "", d]) }
                }
            }
            print(Terminal.table((several ? ["CLUSTER"] : []) + ["KIND", "NAMESPACE", "NAME", "RESULT", "DRIFT"], rows))
            let user = all.map(\.user).first ?? ""
            let count: (PlatformSync.Action) -> Int = { a in outcomes.filter { $0.action == a }.count }
            print(dryRun
                  ? "\(outcomes.count) objects\(several ? " in \(all.count) clusters" : ""): \(count(.wouldCreate)) would be created, \(count(.wouldUpdate)) would be updated, \(count(.unchanged)) unchanged, \(count(.failed)) failed (dry run, as \(user))"
                  : "\(outcomes.count) objects\(several ? " in \(all.count) clusters" : ""): \(count(.created)) created, \(count(.updated)) updated (drift corrected), \(count(.unchanged)) unchanged, \(count(.failed)) failed (as \(user))")
        default:
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            if several {
                try printStructured(try enc.encode(all.map { ClusterOutcomes(cluster: $0.cluster ?? "", outcomes: $0.outcomes) }), output.format)
            } else {
                try printStructured(try enc.encode(outcomes), output.format)
            }
        }
        let failed = outcomes.contains { $0.action == .failed }
        let changes = outcomes.contains { $0.action == .wouldCreate || $0.action == .wouldUpdate }
        if failed || (dryRun && changes) { throw ExitCode(1) }
    }
}
