/// Amounts per resource: CPU (millicores), memory (MiB), and GPU thousandths per accelerator (index = GPU model id).
public struct Resources: Hashable, Sendable, CustomStringConvertible {
    public var cpuMilli: Int64 = 0
    public var memoryMiB: Int64 = 0
    public var gpuMilli: [Int64] = []

    public init(cpuMilli: Int64 = 0, memoryMiB: Int64 = 0, gpuMilli: [Int64] = []) {
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpuMilli = gpuMilli
    }

    public static let zero = Resources()

    public func gpu(_ model: Int) -> Int64 { model < gpuMilli.count ? gpuMilli[model] : 0 }

    public mutating func addGPU(_ model: Int, _ milli: Int64) {
        if gpuMilli.count <= model { gpuMilli += Array(repeating: 0, count: model + 1 - gpuMilli.count) }
        gpuMilli[model] += milli
    }

    public static func + (a: Resources, b: Resources) -> Resources {
        var r = Resources(cpuMilli: a.cpuMilli + b.cpuMilli, memoryMiB: a.memoryMiB + b.memoryMiB)
        for i in 0..<max(a.gpuMilli.count, b.gpuMilli.count) { r.addGPU(i, a.gpu(i) + b.gpu(i)) }
        return r
    }

    public static func - (a: Resources, b: Resources) -> Resources {
        var r = Resources(cpuMilli: a.cpuMilli - b.cpuMilli, memoryMiB: a.memoryMiB - b.memoryMiB)
        for i in 0..<max(a.gpuMilli.count, b.gpuMilli.count) { r.addGPU(i, a.gpu(i) - b.gpu(i)) }
        return r
    }

    /// Every amount of `self` is at most the same amount of `other`.
    public func fits(in other: Resources) -> Bool {
        guard cpuMilli <= other.cpuMilli, memoryMiB <= other.memoryMiB else { return false }
        for i in 0..<gpuMilli.count where gpu(i) > other.gpu(i) { return false }
        return true
    }

    /// Per-resource maximum with zero: what of `self` exceeds nothing.
    public var clampedAtZero: Resources {
        Resources(cpuMilli: max(0, cpuMilli), memoryMiB: max(0, memoryMiB), gpuMilli: gpuMilli.map { max(0, $0) })
    }

    public var isZero: Bool { cpuMilli == 0 && memoryMiB == 0 && gpuMilli.allSatisfy { $0 == 0 } }

    public var description: String {
        var parts = ["cpu=\(cpuMilli)m", "memory=\(memoryMiB)Mi"]
        for (i, g) in gpuMilli.enumerated() where g != 0 { parts.append("gpu[\(i)]=\(g)m") }
        return parts.joined(separator: " ")
    }

    /// What a set of pods asks for, GPUs counted against the model of the node each would use (`model`).
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
