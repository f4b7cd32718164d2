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

/// OpenCost's windows, as whole UTC days that never end after now.
@Suite struct AllocationWindowTests {
    static let now = Date(timeIntervalSince1970: 1_796_601_600 + 15 * 3600)  // 2026-12-07 15:00 UTC
    static func days(_ text: String) -> String? {
        Allocation.Window.parse(text, now: now).map { "\($0.firstDay)..\($0.endDay) \(String(format: "%.0f", $0.hours))h" }
    }

    @Test func windowsAreWholeDays() {
        #expect(Self.days("today") == "2026-12-07..2026-12-08 15h")
        #expect(Self.days("yesterday") == "2026-12-06..2026-12-07 24h")
        #expect(Self.days("7d") == "2026-12-01..2026-12-08 159h")
        #expect(Self.days("24h") == "2026-12-06..2026-12-08 39h")
        #expect(Self.days("month") == "2026-12-01..2026-12-08 159h")
        #expect(Self.days("lastmonth") == "2026-11-01..2026-12-01 720h")
        #expect(Self.days("2026-11-30T10:00:00Z,2026-12-02T01:00:00Z") == "2026-11-30..2026-12-03 72h")
        #expect(Self.days("2026-12-01,2026-12-31") == "2026-12-01..2026-12-08 159h", "never after now")
        #expect(Self.days("fortnight") == nil && Self.days("0d") == nil && Self.days("2026-12-02,2026-12-01") == nil)
    }

    /// Idle is what the nodes offered over the window less what was held, priced; allocations keep their namespace.
    @Test func idleIsTheRestOfTheCapacity() throws {
        let w = try #require(Allocation.Window.parse("yesterday", now: Self.now))
        let rows = [UsageRow(day: "2026-12-06", workload: "wl-1", name: "ft", team: "search", env: "dev", kind: "TrainingJob", user: "alice", model: nil,
                             accelerator: "h100", gpuSeconds: 8 * 3600, cpuSeconds: 16 * 3600, memoryGiBSeconds: 64 * 3600),
                    UsageRow(day: "2026-12-05", workload: "wl-0", name: "old", team: "search", env: "dev", kind: "TrainingJob", user: "alice", model: nil,
                             accelerator: "h100", gpuSeconds: 99, cpuSeconds: 99, memoryGiBSeconds: 99)]
        let rates = UsageReport.Rates(acceleratorHour: ["h100": 4], cpuCoreHour: 0.04, memoryGiBHour: 0.005)
        let set = Allocation.set(rows, window: w, aggregate: ["namespace"], rates: rates, idle: .init(gpus: ["h100": 1], cpuCores: 2, memoryGiB: 8))
        let ns = try #require(set["search-dev"])
        let gib = 1_073_741_824.0
        let cost: Double = 8 * 4 + 16 * 0.04 + 64 * 0.005
        #expect(ns.gpuHours == 8 && ns.cpuCoreHours == 16)
        #expect(ns.ramByteHours == 64 * gib && abs(ns.totalCost - cost) < 1e-12)
        #expect(ns.properties["namespace"] == "search-dev" && ns.gpuCount == 8.0 / 24)
        let idle = try #require(set["__idle__"])
        let idleRAM: Double = (8 * 24 - 64) * gib
        #expect(idle.gpuHours == 16 && idle.cpuCoreHours == 32 && idle.gpuCost == 64)
        #expect(idle.ramByteHours == idleRAM)
    }
}
