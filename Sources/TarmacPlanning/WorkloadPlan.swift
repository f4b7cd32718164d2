import TarmacContract
import TarmacEngine
import TarmacModel

/// What a workload's kind decides of its plan: how many attempts it gets, how long it runs before it may be preempted
/// (milliseconds), and whether it is long-running (a service: any exit is a failure to restart).
public struct KindRules: Sendable, Hashable, Codable {
    public var maxAttempts: Int
    public var minRuntime: Int64
    public var longRunning: Bool
    public init(maxAttempts: Int, minRuntime: Int64 = 0, longRunning: Bool = false) {
        self.maxAttempts = maxAttempts
        self.minRuntime = minRuntime
        self.longRunning = longRunning
    }
}

/// A workload resolved against the contract once, at submit: its document, size, priority, the pools that can host it.
/// Stored beside the workload so a restart does not parse and resolve the document again. Pure: the same document and
/// contract give the same plan.
public struct WorkloadPlan: Sendable, Hashable, Codable {
    /// The stored form's version; a plan written by another version is resolved again from the document.
    public static let version = 4

    public var workload: Workload
    public var size: Size
    public var priority: Int
    /// Its priority may preempt (the contract's `preemption.nonPreempting` does not name it).
    public var preempts: Bool
    /// It may not be preempted before running this long (milliseconds): a minute for training, none otherwise.
    public var minRuntime: Int64
    /// The contract's pools that can host its size.
    public var poolNames: [String]
    /// The clusters it may run on (environment, pools, datasets), in contract order; nil when the contract names none.
    public var clusters: [String]?
    /// Attempts allowed (only retryable causes retry): what its kind says (`KindRules`).
    public var maxAttempts: Int
    /// Long-running: a pod that exits, even with 0, is a failure to restart (services and agents).
    public var isService: Bool
    public var version: Int

    /// Parses a stored document and resolves it (rows written before plans were stored).
    public init?(source: String, contract: Contract, rules: (Workload) -> KindRules) {
        let read = DocumentReader.read(text: source, file: "request")
        guard read.workloads.count == 1, let w = read.workloads.first, w.isValid else { return nil }
        self.init(workload: w, contract: contract, rules: rules(w))
    }

    /// The workload's size, priority and pools from the contract; what its kind decides from `rules` (TarmacKinds'
    /// `Kinds.plan` passes each kind's own).
    public init?(workload w: Workload, contract: Contract, rules: KindRules) {
        let platform = contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        guard let size = platform.size(for: w) else { return nil }
        workload = w
        self.size = size
        let priorityName = w.priority ?? platform.defaults.priority[w.workloadClass]
        priority = priorityName.flatMap { platform.priorities[$0] } ?? 0
        preempts = platform.preemption.preempts(priority: priorityName)
        minRuntime = rules.minRuntime
        poolNames = platform.pools(for: size).filter { $0.canHost(size) }.map(\.name)
        clusters = platform.clusters(environment: w.metadata.env, pools: poolNames, datasets: w.datasets.map(\.name))
        maxAttempts = rules.maxAttempts
        isService = rules.longRunning
        version = Self.version
    }

    /// The engine's shape of one pod (GPU models by their index in `models`).
    public func shape(models: inout ClusterState) -> PodShape { PodShapes.shape(of: size, models: &models) }

    /// The first checkpoint interval the document declares (training jobs), in seconds.
    public var checkpointInterval: Int64? {
        if case .training(let t) = workload.details { return t.checkpoint?.interval?.seconds }
        return nil
    }
}
