import Foundation
import TarmacContract
import TarmacEngine
import TarmacModel

/// What the control plane derives from a submitted document once: its resolved size, pod shape and how to launch it.
/// Pure: the same document and contract give the same plan.
struct WorkloadPlan: Sendable {
    var workload: Workload
    var size: Size
    var shape: PodShape
    var priority: Int
    var minRuntime: Int64
    /// The contract's pools that can host its size.
    var poolNames: [String]

    init?(source: String, contract: Contract, models: ClusterState) {
        let read = DocumentReader.read(text: source, file: "request")
        guard read.workloads.count == 1, let w = read.workloads.first else { return nil }
        self.init(workload: w, contract: contract, models: models)
    }

    init?(workload w: Workload, contract: Contract, models: ClusterState) {
        let platform = contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        guard let size = platform.sizes[w.workloadClass]?[w.size] else { return nil }
        workload = w
        self.size = size
        var c = models
        shape = Self.shape(of: size, models: &c)
        let priorityName = w.priority ?? platform.defaults.priority[w.workloadClass]
        priority = priorityName.flatMap { platform.priorities[$0] } ?? 0
        minRuntime = w.workloadClass == .training ? 60_000 : 0
        poolNames = platform.pools(for: size).filter { $0.canHost(size) }.map(\.name)
    }

    /// The engine's pod shape of a size (GPU models by their index in `models`).
    static func shape(of size: Size, models c: inout ClusterState) -> PodShape {
        let gpus = size.gpus
        return PodShape(cpuMilli: Int32(clamping: size.cpu.millis), memoryMiB: Int32(clamping: size.memory.bytes >> 20),
                        gpuCount: gpus.isFractional ? 1 : gpus.wholeGPUs, gpuMilli: gpus.isFractional ? gpus.thousandths : 1000,
                        models: size.accelerator.map { .only([c.modelID($0)]) } ?? .any)
    }

    var isService: Bool { w.kind == .inferenceService || w.kind == .agent }
    private var w: Workload { workload }

    /// Attempts allowed: a batch job's `maxRetries` + 1; three for everything else. Only retryable causes retry.
    var maxAttempts: Int {
        if case .batch(let b) = workload.details { return b.maxRetries + 1 }
        return 3
    }

    func pending(_ e: WorkloadEntry, pools: Set<Int16>? = nil) -> PendingWorkload {
        PendingWorkload(id: e.id, team: e.team, user: e.owner ?? e.submittedBy, priority: e.priority,
                        submitted: Int64(e.createdAt.timeIntervalSince1970 * 1000), pods: Array(repeating: shape, count: e.podCount),
                        sameDomain: size.topology == .domain, pools: pools, minRuntime: minRuntime)
    }

    /// The pods of one attempt, ready for a backend.
    func launches(for e: WorkloadEntry, platformName: String, graceSeconds: Double) -> [PodLaunch] {
        let w = workload
        var base: [String: String] = [:]
        for v in w.env { base[v.name] = v.value }
        base["TARMAC_WORKLOAD"] = e.name
        base["TARMAC_WORKLOAD_ID"] = e.id
        base["TARMAC_TEAM"] = e.team
        base["TARMAC_ENV"] = e.env
        base["TARMAC_ATTEMPT"] = String(e.attempt)
        // The workload's own identity: never the identity of the human who submitted it.
        base["TARMAC_WORKLOAD_IDENTITY"] = "tarmac://\(platformName)/\(e.team)/\(e.env)/\(w.kind.rawValue.lowercased())/\(e.name)"
        let deadline = w.maxDuration.map { Date().addingTimeInterval(Double($0.seconds)) }
        let port = 20000 + e.id.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) % 20000 }
        return e.placements.enumerated().map { i, placement in
            var env = base
            var indices: [Int] = []
            switch w.details {
            case .training:
                env["WORLD_SIZE"] = String(e.podCount)
                env["RANK"] = String(i)
                env["NODE_RANK"] = String(i)
                env["LOCAL_RANK"] = "0"
                env["MASTER_ADDR"] = "127.0.0.1"
                env["MASTER_PORT"] = String(port)
            case .batch(let b):
                indices = Array(stride(from: i, to: b.tasks, by: max(1, b.parallelism)))
            case .inference(let s):
                env["PORT"] = String(s.port + i)
            case .agent:
                break
            }
            env["CUDA_VISIBLE_DEVICES"] = placement.gpus.map(String.init).joined(separator: ",")
            return PodLaunch(workload: e.id, attempt: e.attempt, pod: i, command: w.command + w.args, environment: env,
                             memoryLimitBytes: size.memory.bytes, cpuMilli: Int(size.cpu.millis), placement: placement,
                             deadline: deadline, completionIndices: indices, graceSeconds: graceSeconds)
        }
    }
}
