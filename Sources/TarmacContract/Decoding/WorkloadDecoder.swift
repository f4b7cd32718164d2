import TarmacModel

/// Builds a typed `Workload` from a checked workload document.
public enum WorkloadDecoder {
    public static func decode(_ document: YNode, kind: DocumentKind) -> Workload {
        let meta = document["metadata"]
        let spec = document["spec"] ?? YNode(.mapping([]), at: document.location)
        var metadata = WorkloadMetadata(name: meta?.str("name") ?? "", team: meta?.str("team") ?? "", env: meta?.str("env") ?? "",
                                        owner: meta?.str("owner"))
        metadata.labels = meta?.stringMap("labels") ?? [:]
        let details: Workload.Details
        switch kind {
        case .inferenceService:
            details = .inference(InferenceDetails(
                model: spec.str("model").flatMap(ModelReference.init) ?? ModelReference(name: "model", version: "0"),
                replicas: spec.str("replicas").flatMap(ReplicaRange.parse) ?? ReplicaRange(min: 1, max: 1),
                port: spec.int("port") ?? 8080,
                rollbackTarget: spec.str("rollbackTarget").flatMap(ModelReference.init),
                rollout: spec["rollout"].map(rollout)))
        case .agent:
            var tools: [String: [String]] = [:]
            for e in spec["tools"]?.entries ?? [] { tools[e.key] = e.value.items?.compactMap(\.text) ?? [] }
            details = .agent(AgentDetails(tools: tools, onBehalfOf: spec.str("onBehalfOf")))
        case .batchJob:
            let tasks = spec.int("tasks") ?? 1
            details = .batch(BatchDetails(tasks: tasks, parallelism: spec.int("parallelism") ?? tasks, maxRetries: spec.int("maxRetries") ?? 3))
        default:
            let checkpoint = spec["checkpoint"].flatMap { c in c.str("path").map { Checkpoint(path: $0, interval: c.duration("interval")) } }
            details = .training(TrainingDetails(workers: spec.int("workers") ?? 1, checkpoint: checkpoint))
        }
        var w = Workload(kind: kind, metadata: metadata, size: spec.str("size") ?? "", image: spec.str("image") ?? "", details: details)
        w.command = spec.strings("command")
        w.args = spec.strings("args")
        w.env = (spec["env"]?.entries ?? []).compactMap { e in e.value.text.map { EnvVar(name: e.key, value: $0) } }
        w.egress = spec.strings("egress")
        w.datasets = (spec["datasets"]?.items ?? []).compactMap { d in
            guard let n = d.str("name"), let m = d.str("mountPath") else { return nil }
            return DatasetMount(name: n, mountPath: m)
        }
        w.priority = spec.str("priority")
        w.maxDuration = spec.duration("maxDuration")
        w.workdir = spec.str("workdir")
        w.retryIdenticalFailures = spec.bool("retryIdenticalFailures")
        var origin = document.origin()
        origin.location = document.location
        w.origin = origin
        return w
    }

    /// `spec.rollout` as written (the inference kind reads it into a rollout spec, with every problem).
    static func rollout(_ r: YNode) -> InferenceRollout {
        let rules = (r["rules"]?.items ?? []).map { n in
            InferenceRollout.Rule(metric: n.str("metric") ?? "", threshold: n.double("threshold") ?? 0, minRequests: n.int("minRequests"))
        }
        return InferenceRollout(strategy: r.str("strategy"), steps: r["steps"].map { _ in r.strings("steps") }, rules: rules,
                                rollbackWindow: r.duration("rollbackWindow"), previewWindow: r.duration("previewWindow"))
    }
}
