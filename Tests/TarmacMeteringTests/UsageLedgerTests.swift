import Foundation
import PropertyBased
import TarmacCore
import TarmacMetering
import TarmacTesting
import Testing

/// The durable ledger's rows: one transition's usage split across the UTC days of its span, adding up exactly.
@Suite struct UsageLedgerTests {
    static func transition(since: Date?, at: Date, gpu: Double, cpu: Double, memory: Double) -> Transition {
        var t = Transition(workload: "wl-1", name: "ft", team: "search", env: "dev", kind: "TrainingJob", attempt: 1, event: "succeed", from: .running,
                           to: .succeeded, at: at, pods: 1, cause: nil, gpuSeconds: gpu, cpuSeconds: cpu)
        t.memoryGiBSeconds = memory
        t.usageSince = since
        t.user = "alice@acme.example"
        t.accelerator = "h100"
        return t
    }

    @Test func daysAreUTCDates() {
        #expect(UsageLedger.day(0) == "1970-01-01")
        #expect(UsageLedger.day(951_782_400) == "2000-02-29")
        #expect(UsageLedger.day(1_796_601_599) == "2026-12-06" && UsageLedger.day(1_796_601_600) == "2026-12-07")
        #expect(UsageLedger.day(-1) == "1969-12-31")
    }

    /// A run from 18:00 one day to 06:00 two days later: a quarter, a whole day's half, a quarter of its usage.
    @Test func aRunOverMidnightIsSplitByTheTimeInEachDay() {
        let start = Date(timeIntervalSince1970: 1_796_601_600 - 6 * 3600)  // 2026-12-06 18:00 UTC
        let t = Self.transition(since: start, at: start.addingTimeInterval(36 * 3600), gpu: 0.5 * 36 * 3600, cpu: 8 * 36 * 3600, memory: 3600)
        let rows = UsageLedger.rows(for: t)
        #expect(rows.map(\.day) == ["2026-12-06", "2026-12-07", "2026-12-08"])
        #expect(rows.map { $0.gpuSeconds / 3600 } == [3, 12, 3], "half a GPU: 6 h, 24 h, 6 h")
        #expect(rows.map(\.memoryGiBSeconds) == [600, 2400, 600])
        #expect(rows.allSatisfy { $0.user == "alice@acme.example" && $0.accelerator == "h100" && $0.workload == "wl-1" })
        // Without a span (or a span that ends where it starts) it is the day of the transition.
        #expect(UsageLedger.rows(for: Self.transition(since: nil, at: start, gpu: 1, cpu: 1, memory: 1)).map(\.day) == ["2026-12-06"])
        #expect(UsageLedger.rows(for: Self.transition(since: start, at: start, gpu: 0, cpu: 0, memory: 0)).isEmpty, "nothing used: no row")
    }

    /// Whatever the span and the figures, the rows add up to the transition (to rounding), each day's share is the time in it,
    /// and no row falls outside the span.
    @Test func rowsAddUpToTheTransition() async {
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            let start = 1_790_000_000 + Double(rng.int(10_000_000))
            let length = Double(rng.int(6 * 86_400)) + Double(rng.int(1000)) / 1000
            let gpu = Double(rng.int(100_000)) / 7, cpu = Double(rng.int(100_000)) / 3, memory = Double(rng.int(100_000)) / 11
            let t = Self.transition(since: Date(timeIntervalSince1970: start), at: Date(timeIntervalSince1970: start + length), gpu: gpu, cpu: cpu, memory: memory)
            let rows = UsageLedger.rows(for: t)
            guard gpu + cpu + memory > 0 else { #expect(rows.isEmpty); return }
            func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(b)) }
            #expect(close(rows.reduce(0) { $0 + $1.gpuSeconds }, gpu) && close(rows.reduce(0) { $0 + $1.cpuSeconds }, cpu)
                    && close(rows.reduce(0) { $0 + $1.memoryGiBSeconds }, memory), "seed \(seed): the rows add up to the transition (to the last bits)")
            #expect(rows.first?.day == UsageLedger.day(start) && rows.last?.day == UsageLedger.day(start + length), "seed \(seed)")
            #expect(Set(rows.map(\.day)).count == rows.count, "one row a day")
            if length > 0, rows.count > 2, gpu > 0 {
                // A whole day in the middle holds 86,400 / length of the usage.
                #expect(abs(rows[1].gpuSeconds - gpu * 86_400 / length) < 1e-6 * max(1, gpu), "seed \(seed)")
            }
        }
    }
}
