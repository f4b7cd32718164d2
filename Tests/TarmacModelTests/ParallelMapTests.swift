import Foundation
import PropertyBased
import Testing
@testable import TarmacModel

/// `parallelMap` is `map`: every element transformed once, results in order, for any length around the chunking.
@Suite struct ParallelMapTests {
    @Test func isMapForAnyLength() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...5000), Gen.int(in: 1...100)) { n, minimum in
            let xs = Array(0..<n)
            #expect(xs.parallelMap(minimumCount: minimum) { $0 &* 31 &+ 7 } == xs.map { $0 &* 31 &+ 7 })
        }
    }

    @Test func eachElementIsTransformedOnce() {
        let calls = Counter()
        let out = Array(0..<10_000).parallelMap { x -> String in
            calls.bump()
            return "n\(x)"
        }
        #expect(out.count == 10_000 && out[9_999] == "n9999" && out[0] == "n0")
        #expect(calls.value == 10_000)
    }
}

/// A thread-safe counter for the test.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func bump() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
