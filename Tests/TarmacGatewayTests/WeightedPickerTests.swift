import PropertyBased
import TarmacGateway
import TarmacTesting
import Testing

/// The inference gateway's choice of version: exact shares over every cycle, spread out, sticky keys stable.
@Suite struct WeightedPickerTests {
    /// For any weights: over each run of `sum(weights)` picks every choice comes exactly its weight's number of times, a
    /// choice of weight 0 never, and no choice waits longer than its fair gap (spread, not in bursts).
    @Test func everyCycleGivesEachChoiceExactlyItsWeight() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            let weights = (0..<(1 + rng.int(5))).map { _ in rng.int(4) == 0 ? 0 : rng.int(101) }
            var p = WeightedPicker(weights: weights)
            let total = weights.reduce(0, +)
            guard total > 0 else {
                #expect(p.next() == nil)
                return
            }
            for _ in 0..<3 {
                var counts = Array(repeating: 0, count: weights.count)
                var last = Array(repeating: -1, count: weights.count), longest = Array(repeating: 0, count: weights.count)
                for i in 0..<total {
                    let c = p.next()!
                    counts[c] += 1
                    if last[c] >= 0 { longest[c] = max(longest[c], i - last[c]) }
                    last[c] = i
                }
                #expect(counts == weights, "weights \(weights): \(counts)")
                for c in weights.indices where weights[c] > 0 {
                    // Smooth round robin never lets a choice wait more than twice its share's gap.
                    #expect(longest[c] <= 2 * (total + weights[c] - 1) / weights[c], "weights \(weights): choice \(c) waited \(longest[c])")
                }
            }
        }
    }

    @Test func stickyKeysKeepTheirChoiceAndSpreadByWeight() {
        let p = WeightedPicker(weights: [90, 10, 0])
        var counts = [0, 0, 0]
        for i in 0..<10_000 {
            let key = "session-\(i)"
            let c = p.pick(sticky: key)!
            #expect(p.pick(sticky: key) == c)
            counts[c] += 1
        }
        #expect(counts[2] == 0)
        #expect((800...1200).contains(counts[1]), "\(counts)")
        #expect(WeightedPicker(weights: [0, 0]).pick(sticky: "x") == nil)
    }
}
