/// GPU readings given to the workloads that hold each GPU: a device's utilization and memory are split between the
/// workloads sharing it in proportion to their shares (0.25 and 0.5 of one GPU get 1/3 and 2/3), its GPU-seconds by
/// the shares themselves, the rest idle; a GPU nobody holds is idle. Memory measured per process (NVML's compute
/// apps) replaces the split where a sample has it. Pure.
public enum GPUAttribution {
    /// One pod's hold on one GPU: the share of it, in thousandths.
    public struct Hold: Sendable, Hashable {
        public var workload: String
        public var node: String
        public var gpu: Int
        public var milli: Int
        public init(workload: String, node: String, gpu: Int, milli: Int) {
            self.workload = workload
            self.node = node
            self.gpu = gpu
            self.milli = milli
        }
    }

    /// What one workload gets of the readings.
    public struct Usage: Sendable, Hashable {
        /// Utilization points it accounts for, summed over its GPUs (a workload alone on two busy GPUs: 200).
        public var utilization: Double = 0
        public var memoryUsedMiB: Double = 0
        public var gpus: Double = 0
        /// The throttling reasons seen on its GPUs.
        public var throttling: Set<String> = []
    }

    public static func attribute(_ samples: [GPUSample], holds: [Hold]) -> (byWorkload: [String: Usage], idle: [GPUSample]) {
        var byGPU: [String: [Hold]] = [:]
        for h in holds { byGPU["\(h.node)/\(h.gpu)", default: []].append(h) }
        var out: [String: Usage] = [:]
        var idle: [GPUSample] = []
        for s in samples {
            let hs = byGPU["\(s.node)/\(s.gpu)"] ?? []
            let total = hs.reduce(0) { $0 + $1.milli }
            guard total > 0 else { idle.append(s); continue }
            for h in hs {
                let part = Double(h.milli) / Double(total)
                out[h.workload, default: Usage()].utilization += s.utilization * part
                // Measured per process where NVML says (a shared GPU's memory is not the device's, split).
                out[h.workload, default: Usage()].memoryUsedMiB += s.memoryByWorkload.map { $0[h.workload] ?? 0 } ?? s.memoryUsedMiB * part
                out[h.workload, default: Usage()].gpus += Double(h.milli) / 1000
                out[h.workload, default: Usage()].throttling.formUnion(s.throttling)
            }
        }
        return (out, idle)
    }

    /// A node's GPU-seconds over `seconds` (every GPU it has), split: each workload its shares (a GPU shared at 0.25
    /// and 0.5 gives them 1/3 and 2/3 of what was allocated of it), the rest of every GPU idle; the parts add up to the
    /// node's GPU-seconds.
    public static func gpuSeconds(gpus: Int, node: String, holds: [Hold], seconds: Double) -> (byWorkload: [String: Double], idle: Double) {
        var byWorkload: [String: Double] = [:]
        var idle = 0.0
        for g in 0..<gpus {
            let hs = holds.filter { $0.node == node && $0.gpu == g }
            let total = min(1000, hs.reduce(0) { $0 + $1.milli })
            let scale = hs.reduce(0) { $0 + $1.milli } > 1000 ? 1000 / Double(hs.reduce(0) { $0 + $1.milli }) : 1
            for h in hs { byWorkload[h.workload, default: 0] += seconds * Double(h.milli) / 1000 * scale }
            idle += seconds * Double(1000 - total) / 1000
        }
        return (byWorkload, idle)
    }
}
