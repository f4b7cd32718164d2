import TarmacEngine

/// The engine's seedable generator (SplitMix64), for fuzz and property tests: a failing case is replayed from its seed.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// A number in 0..<n.
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    public mutating func pick<T>(_ xs: [T]) -> T { xs[int(xs.count)] }
}
