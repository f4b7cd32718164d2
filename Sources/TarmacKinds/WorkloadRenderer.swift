import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// Turns one workload, resolved against the contract (its `WorkloadPlan`: the size is resolved there and only there),
/// into the Kubernetes objects that run it: a ServiceAccount and the pod template every kind shares, then what its
/// kind adds (`WorkloadKind`). Jobs are created suspended: Tarmac unsuspends them when it admits the workload.
public enum WorkloadRenderer {
    public enum Failure: Error, Equatable { case invalid(String) }

    /// A document as written: resolved to its plan first.
    public static func render(_ w: Workload, contract: Contract, options: RenderOptions = RenderOptions()) -> Result<[KubeObject], Failure> {
        guard w.isValid else { return .failure(.invalid("workload '\(w.metadata.name)' has errors; run tarmac validate")) }
        guard let plan = Kinds.plan(w, contract: contract) else {
            return .failure(.invalid("unknown \(w.workloadClass.rawValue) size '\(w.size)'"))
        }
        return .success(render(plan, contract: contract, options: options))
    }

    /// A resolved workload (the plan stored at submit), with the contract in force now for its team and environment.
    public static func render(_ plan: WorkloadPlan, contract: Contract, options: RenderOptions = RenderOptions()) -> [KubeObject] {
        let w = plan.workload, size = plan.size
        let p = contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        var annotations = ["tarmac.dev/size": size.reference]
        if let o = w.metadata.owner { annotations["tarmac.dev/owner"] = o }
        var r = KindRender(workload: w, size: size, platform: p, options: options,
                           template: PodTemplate(workload: w, size: size, platform: p, environment: PodEnvironment.kubernetes(w, size: size)),
                           labels: Naming.labels(for: w), annotations: annotations, queueLabels: options.kueue ? queueLabels(w, p) : [:])
        // One ServiceAccount per workload, never with an API token mounted (agents get an audience-bound token instead).
        r.objects.append(r.object("v1", "ServiceAccount", body: ["automountServiceAccountToken": false]))
        Kinds.of(w).render(&r)
        return r.objects.sortedByPath()
    }

    static func queueLabels(_ w: Workload, _ p: Platform) -> [String: String] {
        var l = ["kueue.x-k8s.io/queue-name": Naming.localQueue]
        if let prio = w.priority ?? p.defaults.priority[w.workloadClass] { l["kueue.x-k8s.io/priority-class"] = Naming.priorityClass(prio) }
        return l
    }
}
