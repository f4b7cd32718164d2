import ArgumentParser
import Foundation
import TarmacKinds
import TarmacKubernetes

/// `--kubeconfig`, `--context`, `--in-cluster`: how to reach a Kubernetes cluster.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).") var kubeconfig: String?
    @Option(help: "Kubeconfig context (default: its current context).") var context: String?
    @Flag(help: "Use the pod's service account (when Tarmac runs inside the cluster).") var inCluster = false

    func access() throws -> ClusterAccess { try access(context: context) }

    /// The kubeconfig's access through another context than --context (a contract's cluster names its own).
    func access(context: String?) throws -> ClusterAccess {
        if inCluster && context == nil { return try KubeConfig.inCluster() }
        let env = ProcessInfo.processInfo.environment
        let path = kubeconfig ?? env["KUBECONFIG"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? (env["HOME"] ?? NSHomeDirectory()) + "/.kube/config"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no kubeconfig at \(path); name one with --kubeconfig FILE, or use --in-cluster inside a pod")
        }
        return try KubeConfig.load(path: path, context: context ?? self.context)
    }
}

extension ServiceRoute.Parent: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String { description }
}
