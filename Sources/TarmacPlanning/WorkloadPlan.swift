import TarmacContract
import TarmacEngine
import TarmacModel

/// A workload resolved against the contract once, at submit: its document, size, priority, the pools that can host it.
/// Stored beside the workload so a restart does not parse and resolve the document again. Pure: the same document and
/// contract give the same plan.
public struct WorkloadPlan: Sendable, Hashable, Codable {
    /// The stored form's version; a plan written by another version is resolved again from the document.
    public static let version = 2

    public var workload: Workload
    public var size: Size
    public var priority: Int
    /// Its priority may preempt (the contract's `preemption.nonPreempting` does not name it).
    public var preempts: Bool
    /// It may not be preempted before running this long (milliseconds): a minute for training, none otherwise.
    public var minRuntime: Int64
    /// The contract's pools that can host its size.
    public var poolNames: [String]
    /// Attempts allowed: a batch job's `maxRetries` + 1; three for everything else. Only retryable causes retry.
    public var maxAttempts: Int
    public var version: Int

    /// Parses a stored document and resolves it (rows written before plans were stored).
    public init?(source: String, contract: Contract) {
        let read = DocumentReader.read(text: source, file: "request")
        guard read.workloads.count == 1, let w = read.workloads.first, w.isValid else { return nil }
        self.init(workload: w, contract: contract)
    }

    public init?(workload w: Workload, contract: Contract) {
        let platform = contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        guard let size = platform.size(for: w) else { return nil }
        workload = w
        self.size = size
        let priorityName = w.priority ?? platform.defaults.priority[w.workloadClass]
        priority = priorityName.flatMap { platform.priorities[$0] } ?? 0
        preempts = platform.preemption.preempts(priority: priorityName)
        minRuntime = w.workloadClass == .training ? 60_000 : 0
        poolNames = platform.pools(for: size).filter { $0.canHost(size) }.map(\.name)
        if case .batch(let b) = w.details { maxAttempts = b.maxRetries + 1 } else { maxAttempts = 3 }
        version = Self.version
    }

    /// Long-running: a pod that exits, even with 0, is a failure to restart (services and agents).
    public var isService: Bool { workload.kind == .inferenceService || workload.kind == .agent }

    /// The engine's shape of one pod (GPU models by their index in `models`).
    public func shape(models: inout ClusterState) -> PodShape { PodShapes.shape(of: size, models: &models) }

    /// The first checkpoint interval the document declares (training jobs), in seconds.
    public var checkpointInterval: Int64? {
        if case .training(let t) = workload.details { return t.checkpoint?.interval?.seconds }
        return nil
    }
}
