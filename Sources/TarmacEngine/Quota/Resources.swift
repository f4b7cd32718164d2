/// Amounts per resource: CPU (millicores), memory (MiB), and GPU thousandths per accelerator model (index = GPU model
/// id, 1 to 15). Stored inline (no heap): quota checks run for every waiting workload in every cycle.
public struct Resources: Hashable, Sendable, CustomStringConvertible {
    public static let maxModels = 16

    public var cpuMilli: Int64
    public var memoryMiB: Int64
    public var gpu: SIMD16<Int64>

    public init(cpuMilli: Int64 = 0, memoryMiB: Int64 = 0, gpu: SIMD16<Int64> = .zero) {
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpu = gpu
    }

    public static let zero = Resources()

    @inline(__always) public func gpu(_ model: Int) -> Int64 { model < Self.maxModels ? gpu[model] : 0 }

    public mutating func addGPU(_ model: Int, _ milli: Int64) {
        precondition(model < Self.maxModels, "at most \(Self.maxModels - 1) GPU models in quota accounting")
        gpu[model] += milli
    }

    public static func + (a: Resources, b: Resources) -> Resources {
        Resources(cpuMilli: a.cpuMilli + b.cpuMilli, memoryMiB: a.memoryMiB + b.memoryMiB, gpu: a.gpu &+ b.gpu)
    }

    public static func - (a: Resources, b: Resources) -> Resources {
        Resources(cpuMilli: a.cpuMilli - b.cpuMilli, memoryMiB: a.memoryMiB - b.memoryMiB, gpu: a.gpu &- b.gpu)
    }

    /// Every amount of `self` is at most the same amount of `other`.
    @inline(__always) public func fits(in other: Resources) -> Bool {
        cpuMilli <= other.cpuMilli && memoryMiB <= other.memoryMiB && all(gpu .<= other.gpu)
    }

    /// Per-resource maximum with zero.
    public var clampedAtZero: Resources {
        Resources(cpuMilli: max(0, cpuMilli), memoryMiB: max(0, memoryMiB), gpu: pointwiseMax(gpu, .zero))
    }

    /// Per-resource minimum.
    public func capped(by other: Resources) -> Resources {
        Resources(cpuMilli: min(cpuMilli, other.cpuMilli), memoryMiB: min(memoryMiB, other.memoryMiB), gpu: pointwiseMin(gpu, other.gpu))
    }

    public var isZero: Bool { cpuMilli == 0 && memoryMiB == 0 && gpu == .zero }

    public var description: String {
        var parts = ["cpu=\(cpuMilli)m", "memory=\(memoryMiB)Mi"]
        for i in 0..<Self.maxModels where gpu[i] != 0 { parts.append("gpu[\(i)]=\(gpu[i])m") }
        return parts.joined(separator: " ")
    }

    /// What a set of pods asks for, GPUs counted against the model each would use (`model`).
    public static func of(_ pods: [PodShape], model: (PodShape) -> Int) -> Resources {
        var r = Resources()
        for p in pods {
            r.cpuMilli += Int64(p.cpuMilli)
            r.memoryMiB += Int64(p.memoryMiB)
            if p.usesGPU { r.addGPU(model(p), Int64(p.totalGPUMilli)) }
        }
        return r
    }
}
