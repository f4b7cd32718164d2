import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// Independent tasks: an indexed Job running `parallelism` at a time, each task retried on its own.
public struct BatchKind: WorkloadKind {
    public let details: BatchDetails
    public init(details: BatchDetails) { self.details = details }

    /// Its own `maxRetries`, and the first try.
    public var rules: KindRules { KindRules(maxAttempts: details.maxRetries + 1) }

    public func validate(_ w: Workload, size: Size?, platform: Platform) -> [Diagnostic] {
        guard w.isValid, details.parallelism > details.tasks else { return [] }
        return [.warning(at: w.origin.at("spec.parallelism"), "parallelism \(details.parallelism) is more than tasks \(details.tasks)", rule: "parallelism")]
    }

    public func render(_ r: inout KindRender) {
        let b = details
        r.template.restartPolicy = "Never"
        r.template.containerName = "task"
        var job: [String: KValue] = [
            "suspend": true,
            "completionMode": "Indexed",
            "completions": .int(b.tasks),
            "parallelism": .int(min(b.parallelism, b.tasks)),
            "backoffLimitPerIndex": .int(b.maxRetries),
            "template": r.template.template(),
        ]
        if let d = r.workload.maxDuration { job["activeDeadlineSeconds"] = .int(Int(d.seconds)) }
        r.objects.append(r.object("batch/v1", "Job", body: ["spec": .object(job)], extraLabels: r.queueLabels))
    }

    /// Pod `i` runs tasks i, i + parallelism, ... one after another.
    public func localPod(_ i: Int, of pods: Int, port: Int) -> LocalPodRole {
        LocalPodRole(completionIndices: Array(stride(from: i, to: details.tasks, by: max(1, details.parallelism))))
    }
}
