/// Chooses among weighted choices the way nginx's smooth weighted round robin does: over every run of `sum(weights)`
/// picks each choice is picked exactly its weight's number of times, spread out rather than in bursts (weights 90/10
/// give one canary request in every ten, not ten in a row). Pure and deterministic; a sticky key instead maps to the
/// same choice while the weights stay the same.
public struct WeightedPicker: Sendable, Hashable {
    public private(set) var weights: [Int]
    var current: [Int]

    /// Negative weights count as 0.
    public init(weights: [Int]) {
        self.weights = weights.map { max(0, $0) }
        current = Array(repeating: 0, count: weights.count)
    }

    public var total: Int { weights.reduce(0, +) }

    /// The next choice (nil when every weight is 0).
    public mutating func next() -> Int? {
        let total = total
        guard total > 0 else { return nil }
        var best = -1
        for i in weights.indices where weights[i] > 0 {
            current[i] += weights[i]
            if best < 0 || current[i] > current[best] { best = i }
        }
        current[best] -= total
        return best
    }

    /// The choice for a sticky key: its hash placed on the weights' cumulative scale (FNV-1a, stable across runs).
    public func pick(sticky key: some StringProtocol) -> Int? {
        let total = total
        guard total > 0 else { return nil }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var point = Int(h % UInt64(total))
        for i in weights.indices {
            if point < weights[i] { return i }
            point -= weights[i]
        }
        return nil
    }
}
