import PropertyBased
import Testing
@testable import TarmacModel

/// Canonical forms read back as the same value, for any value.
@Suite struct QuantityPropertyTests {
    @Test func cpuRoundTrips() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...10_000_000)) { millis in
            let q = CPUQuantity(millis: Int64(millis))
            #expect((try? CPUQuantity.parse(q.description).get()) == q)
        }
    }

    @Test func bytesRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...Int(Int32.max)), Gen.int(in: 0...30)) { n, shift in
            let q = ByteQuantity(bytes: Int64(n) << shift)
            #expect((try? ByteQuantity.parse(q.description).get()) == q)
        }
    }

    @Test func gpuAmountsRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...64_000)) { t in
            let g = GPUAmount(thousandths: t)
            #expect((try? GPUAmount.parse(g.description).get()) == g)
        }
    }

    @Test func durationsRoundTrip() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...10_000_000)) { s in
            let d = TimeSpan(seconds: Int64(s))
            #expect((try? TimeSpan.parse(d.description).get()) == d)
        }
    }
}
