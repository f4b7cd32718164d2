/// A workload as submitted: a training job, batch job, inference service or agent.
public struct Workload: Sendable, Hashable, Codable {
    public var kind: DocumentKind
    public var metadata: WorkloadMetadata
    public var size: String
    public var image: String
    public var command: [String] = []
    public var args: [String] = []
    /// Environment variables, in the order given.
    public var env: [EnvVar] = []
    public var egress: [String] = []
    public var datasets: [DatasetMount] = []
    public var priority: String?
    public var maxDuration: TimeSpan?
    /// The directory of code `tarmac submit` uploads (a path on the submitter's machine, relative to the document).
    public var workdir: String?
    /// Retry a failure that repeats itself exactly (the same exit and last log lines) up to the last attempt; by default
    /// the second identical failure ends the workload.
    public var retryIdenticalFailures: Bool?
    public var details: Details
    public var origin = Origin.unknown
    /// False when the document had structural errors; such a workload is only used to report more problems.
    public var isValid = true

    /// Stored with its resolved plan: everything but where each value stood in the document.
    enum CodingKeys: String, CodingKey {
        case kind, metadata, size, image, command, args, env, egress, datasets, priority, maxDuration, workdir, retryIdenticalFailures, details, isValid
    }

    public init(kind: DocumentKind, metadata: WorkloadMetadata, size: String, image: String, details: Details) {
        self.kind = kind
        self.metadata = metadata
        self.size = size
        self.image = image
        self.details = details
    }

    public var workloadClass: WorkloadClass { kind.workloadClass ?? .batch }

    public enum Details: Sendable, Hashable, Codable {
        case training(TrainingDetails)
        case batch(BatchDetails)
        case inference(InferenceDetails)
        case agent(AgentDetails)
    }

    /// Number of pods the workload asks for at once: the gang size; a batch job's parallelism, but never more pods than
    /// tasks (a pod without a task would have nothing to run); a service's minimum replicas, at least one (scaling to
    /// zero needs an autoscaler that admits the first replica, which does not exist yet); 1 for an agent.
    public var podCount: Int {
        switch details {
        case .training(let t): t.workers
        case .batch(let b): Swift.max(1, Swift.min(b.parallelism, b.tasks))
        case .inference(let i): Swift.max(1, i.replicas.min)
        case .agent: 1
        }
    }
}

public struct WorkloadMetadata: Sendable, Hashable, Codable {
    public var name: String
    public var team: String
    public var env: String
    public var owner: String?
    public var labels: [String: String] = [:]
    public init(name: String, team: String, env: String, owner: String? = nil) {
        self.name = name
        self.team = team
        self.env = env
        self.owner = owner
    }
}

public struct EnvVar: Sendable, Hashable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct DatasetMount: Sendable, Hashable, Codable {
    public var name: String
    public var mountPath: String
    public init(name: String, mountPath: String) {
        self.name = name
        self.mountPath = mountPath
    }
}

public struct Checkpoint: Sendable, Hashable, Codable {
    public var path: String
    public var interval: TimeSpan?
    public init(path: String, interval: TimeSpan?) {
        self.path = path
        self.interval = interval
    }
}

public struct TrainingDetails: Sendable, Hashable, Codable {
    public var workers: Int
    public var checkpoint: Checkpoint?
    public init(workers: Int, checkpoint: Checkpoint?) {
        self.workers = workers
        self.checkpoint = checkpoint
    }
}

public struct BatchDetails: Sendable, Hashable, Codable {
    public var tasks: Int
    public var parallelism: Int
    public var maxRetries: Int
    public init(tasks: Int, parallelism: Int, maxRetries: Int) {
        self.tasks = tasks
        self.parallelism = parallelism
        self.maxRetries = maxRetries
    }
}

/// Replica bounds `min..max`; a single number means fixed.
public struct ReplicaRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var min: Int
    public var max: Int
    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }

    /// Reads `2`, `1..4`.
    public static func parse(_ text: String) -> ReplicaRange? {
        if let n = Int(text) { return ReplicaRange(min: n, max: n) }
        let parts = text.components(separatedBy: "..")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else { return nil }
        return ReplicaRange(min: a, max: b)
    }

    public var description: String { min == max ? "\(min)" : "\(min)..\(max)" }
}

public struct InferenceDetails: Sendable, Hashable, Codable {
    public var model: ModelReference
    public var replicas: ReplicaRange
    public var port: Int
    public var rollbackTarget: ModelReference?
    /// How a change of model version rolls out when this document replaces a running service's (`spec.rollout`).
    public var rollout: InferenceRollout?
    public init(model: ModelReference, replicas: ReplicaRange, port: Int, rollbackTarget: ModelReference?, rollout: InferenceRollout? = nil) {
        self.model = model
        self.replicas = replicas
        self.port = port
        self.rollbackTarget = rollbackTarget
        self.rollout = rollout
    }
}

/// An InferenceService's `spec.rollout` as written: the strategy, canary steps, analysis rules and windows (read into a
/// rollout spec, with the document's locations, by the inference kind).
public struct InferenceRollout: Sendable, Hashable, Codable {
    public struct Rule: Sendable, Hashable, Codable {
        public var metric: String
        public var threshold: Double
        public var minRequests: Int?
        public init(metric: String, threshold: Double, minRequests: Int?) {
            self.metric = metric
            self.threshold = threshold
            self.minRequests = minRequests
        }
    }
    public var strategy: String?
    public var steps: [String]?
    public var rules: [Rule]
    public var rollbackWindow: TimeSpan?
    public var previewWindow: TimeSpan?
    public init(strategy: String?, steps: [String]?, rules: [Rule], rollbackWindow: TimeSpan?, previewWindow: TimeSpan?) {
        self.strategy = strategy
        self.steps = steps
        self.rules = rules
        self.rollbackWindow = rollbackWindow
        self.previewWindow = previewWindow
    }
}

public struct AgentDetails: Sendable, Hashable, Codable {
    /// Tool name to the scopes requested, as written.
    public var tools: [String: [String]]
    public var onBehalfOf: String?
    public init(tools: [String: [String]], onBehalfOf: String?) {
        self.tools = tools
        self.onBehalfOf = onBehalfOf
    }
}
