import TarmacModel

/// Which size to move to when one is too small.
public enum SizeAdvice {
    /// The smallest size of the same workload class and accelerator with more memory than `bytes` (per pod), as the
    /// team and environment see the contract (`platform` already resolved); nil when there is none.
    public static func larger(than size: Size, memoryAbove bytes: Int64, in platform: Platform) -> Size? {
        (platform.sizes[size.workloadClass] ?? [:]).values
            .filter { $0.accelerator == size.accelerator && $0.memory.bytes > bytes && $0.name != size.name }
            .min { ($0.memory.bytes, $0.cpu.millis, $0.name) < ($1.memory.bytes, $1.cpu.millis, $1.name) }
    }
}
