/// What one pod needs: CPU (millicores), memory (MiB), and GPUs, either `gpuCount` whole devices or a
/// share (`gpuMilli` < 1000) of one device. `models` restricts the GPU models (empty: any).
public struct PodShape: Hashable, Sendable {
    public var cpuMilli: Int32
    public var memoryMiB: Int32
    public var gpuCount: Int8
    /// Thousandths of each requested GPU: 1000 for whole GPUs, less for a share of one.
    public var gpuMilli: Int16
    public var models: ModelSet

    public init(cpuMilli: Int32, memoryMiB: Int32, gpuCount: Int, gpuMilli: Int, models: ModelSet = .any) {
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpuCount = Int8(gpuCount)
        self.gpuMilli = gpuCount == 0 ? 0 : Int16(gpuMilli)
        self.models = models
    }

    /// GPU thousandths in all.
    public var totalGPUMilli: Int { Int(gpuCount) * Int(gpuMilli) }
    public var isShare: Bool { gpuCount == 1 && gpuMilli < 1000 }
    public var usesGPU: Bool { gpuCount > 0 }
}

/// A set of GPU model ids (up to 64 models), as a bit mask. The empty set means "any model".
public struct ModelSet: Hashable, Sendable {
    public var bits: UInt64
    public init(bits: UInt64) { self.bits = bits }
    public static let any = ModelSet(bits: 0)
    public static func only(_ ids: [UInt8]) -> ModelSet { ModelSet(bits: ids.reduce(0) { $0 | (1 << UInt64($1)) }) }
    public var isAny: Bool { bits == 0 }
    @inline(__always) public func allows(_ model: UInt8) -> Bool { bits == 0 || (bits >> UInt64(model)) & 1 == 1 }
}
