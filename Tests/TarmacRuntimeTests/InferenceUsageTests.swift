import Foundation
import Synchronization
import TarmacCore
import TarmacMetering
import TarmacStoreSQLite
import TarmacTesting
import Testing

/// Tokens, answers and model loads into the durable ledger (#27), on a real SQLite file: they add to the same row of
/// the workload and day as its GPU-seconds from the transition stream; a load is counted once per attempt; rows that
/// could not be stored are kept for the next pass.
@Suite struct InferenceUsageTests {
    static func attributes(_ id: String) -> UsageRow {
        UsageRow(day: "", workload: id, name: "ranker", team: "search", env: "dev", kind: "InferenceService", user: "alice", model: "ranker@1.0.0",
                 accelerator: "l4", gpuSeconds: 0, cpuSeconds: 0, memoryGiBSeconds: 0)
    }

    @Test func servedTokensAndLoadsJoinTheWorkloadsRowOfTheDay() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-inference-usage")
        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let day = UsageLedger.day(now.timeIntervalSince1970)
        // The transition stream's share of the same row: an hour of half an L4.
        var gpu = Self.attributes("wl-1")
        gpu.day = day
        gpu.gpuSeconds = 1800
        #expect(try await store.applyUsage(UsageBatch(through: 1, rows: [gpu])))
        let counts = Mutex<[String: ServedCounts]>(["wl-1": ServedCounts(requests: 10, promptTokens: 40, completionTokens: 90)])
        let service = InferenceUsageService(store: store, now: { now }, drain: { counts.withLock { c in defer { c = [:] }; return c } },
                                            ready: { [ReadyService(workload: "wl-1", attempt: 1, startedAt: now.addingTimeInterval(-12.5))] },
                                            describe: { ids in Dictionary(uniqueKeysWithValues: ids.filter { $0 == "wl-1" }.map { ($0, Self.attributes($0)) }) })
        await service.flush()
        counts.withLock { $0 = ["wl-1": ServedCounts(requests: 5, promptTokens: 10, completionTokens: 10), "wl-gone": ServedCounts(requests: 3, promptTokens: 1, completionTokens: 1)] }
        await service.flush()
        let rows = try await store.usage(since: nil, until: nil, team: nil)
        #expect(rows.count == 1, "one row per workload and day; an unknown workload's counts are dropped: \(rows)")
        let r = try #require(rows.first)
        #expect(r.gpuSeconds == 1800 && r.requests == 15 && r.promptTokens == 50 && r.completionTokens == 100, "\(r)")
        #expect(r.modelLoads == 1 && r.modelLoadSeconds == 12.5, "the attempt's load once, however often it is seen ready: \(r)")
        // Reported: tokens and cost per thousand at the rates.
        let (lines, _) = UsageReport.sum(rows, by: [.model], rates: UsageReport.Rates(acceleratorHour: ["l4": 0.8]))
        #expect(lines.first?.costPer1kTokens == 0.4 / 150 * 1000, "0.5 GPU-hours of an L4 at 0.8 over 150 tokens")
    }

    @Test func aLoadIsCountedPerAttempt() {
        var tally = InferenceUsageTally()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let describe: (String) -> UsageRow? = { Self.attributes($0) }
        let first = tally.rows(counts: [:], ready: [ReadyService(workload: "wl-1", attempt: 1, startedAt: now - 20)], now: now, describe: describe)
        let again = tally.rows(counts: [:], ready: [ReadyService(workload: "wl-1", attempt: 1, startedAt: now - 20)], now: now + 5, describe: describe)
        let next = tally.rows(counts: [:], ready: [ReadyService(workload: "wl-1", attempt: 2, startedAt: now + 50)], now: now + 58, describe: describe)
        #expect(first.map(\.modelLoadSeconds) == [20] && again.isEmpty && next.map(\.modelLoadSeconds) == [8])
    }
}
