import TarmacContract
import TarmacDelivery
import TarmacManifests
import TarmacModel

/// Renders a contract and its workloads into one deterministic set of objects, or explains why not.
public enum Rendering {
    public struct Output: Sendable {
        public var objects: [KubeObject]
        public var diagnostics: [Diagnostic]
    }

    /// `env`, when given, keeps only that environment's namespaced objects and workloads. Workloads render on every core
    /// and the calling thread waits for them (for the CLI and tests; an async caller renders workloads one by one).
    public static func render(contract: Contract, workloads: [Workload], env: String? = nil, options: RenderOptions = RenderOptions()) -> Output {
        var diagnostics: [Diagnostic] = []
        var objects = PlatformRenderer.render(contract, options: options)
        if let env {
            let keep = Set(contract.platform.teams.keys.map { Naming.namespace(team: $0, env: env) })
            objects = objects.filter { $0.namespace == nil || keep.contains($0.namespace!) || $0.namespace == Naming.systemNamespace }
        }
        var seen: [String: SourceLocation?] = [:]
        // Each workload renders on its own (on every core); duplicates are found in order afterwards.
        let chosen = workloads.filter { env == nil || $0.metadata.env == env }
        for (w, result) in zip(chosen, chosen.parallelMap { WorkloadRenderer.render($0, contract: contract, options: options) }) {
            switch result {
            case .success(let rendered):
                for o in rendered {
                    if let first = seen[o.relativePath] {
                        diagnostics.append(.error(at: w.origin.at("metadata.name"),
                                                  "\(o.kind) \(o.namespace ?? "")/\(o.name) is rendered twice" + (first.map { " (also by the workload at \($0))" } ?? ""),
                                                  rule: "duplicate-object", help: "workload names are unique per team and environment"))
                    }
                    seen[o.relativePath] = w.origin.location
                }
                objects += rendered
                // An InferenceService is reached through its HTTPRoute on the inference Gateway, all of it on the
                // version written (a rollout moves the weights at run time).
                if case .inference(let d) = w.details {
                    let own = ServiceTraffic.Backend(workload: w.metadata.name, name: w.metadata.name, model: d.model.name, version: d.model.version, weight: 100)
                    objects.append(ServiceRoute.httpRoute(ServiceTraffic(team: w.metadata.team, env: w.metadata.env, service: w.metadata.name, backends: [own])))
                }
            case .failure(.invalid(let message)):
                diagnostics.append(.error(at: w.origin.location, message, rule: "render"))
            }
        }
        return Output(objects: objects.sortedByPath(), diagnostics: diagnostics.normalized())
    }
}
