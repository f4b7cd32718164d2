import Foundation
import Logging
import PropertyBased
import TarmacCore
import TarmacMetering
import TarmacRuntime
import TarmacTesting
import Testing

/// The durable ledger is exact (#27): over random submits, starts, exits (retries, failures), cancels and control
/// plane restarts on a test clock, with the ledger catching up at random moments (and not at all for a while), its
/// rows always add up to each workload's own usage; a catch-up applied twice counts nothing twice.
@Suite struct UsageLedgerDurabilityTests {
    static let logger = Logger(label: "test.metering")

    /// Each workload's GPU-, CPU- and memory-seconds in the ledger, against its entry.
    static func compare(_ h: Harness) async throws -> [String] {
        let rows = try await h.store.usage(since: nil, until: nil, team: nil)
        var sums: [String: (Double, Double, Double)] = [:]
        for r in rows {
            let s = sums[r.workload] ?? (0, 0, 0)
            sums[r.workload] = (s.0 + r.gpuSeconds, s.1 + r.cpuSeconds, s.2 + r.memoryGiBSeconds)
        }
        var problems: [String] = []
        for w in try await h.store.loadWorkloads().map(\.entry) {
            let s = sums[w.id] ?? (0, 0, 0)
            if abs(s.0 - w.gpuSeconds) > 1e-6 * max(1, w.gpuSeconds) || abs(s.1 - w.cpuSeconds) > 1e-6 * max(1, w.cpuSeconds)
                || abs(s.2 - (w.memoryGiBSeconds ?? 0)) > 1e-6 * max(1, w.memoryGiBSeconds ?? 0) {
                problems.append("\(w.name): ledger \(s), entry \(w.gpuSeconds) \(w.cpuSeconds) \(w.memoryGiBSeconds ?? 0)")
            }
        }
        return problems
    }

    @Test func theLedgerAlwaysEqualsTheWorkloadsOwnUsage() async throws {
        await propertyCheck(count: 12, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            do {
                let h = try Harness(cpus: 4)
                var cp = try await h.controlPlane()
                var ids: [String] = []
                for step in 0..<40 {
                    switch rng.int(9) {
                    case 0, 1:
                        let doc = rng.int(2) == 0 ? Lifecycle.training("t\(step)", workers: 1 + rng.int(2)) : Lifecycle.batch("b\(step)", retries: rng.int(3))
                        ids.append(try await cp.submit(text: doc, requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id)
                    case 2:
                        // Hours pass (sometimes over midnight).
                        h.clock.advance(by: Double(rng.int(40_000)))
                    case 3:
                        if let id = ids.randomElement(using: &rng), let e = await cp.current(id), e.state == .running {
                            h.backend.exitAll(id, attempt: e.attempt, pods: e.podCount, code: rng.int(2) == 0 ? 0 : 1)
                        }
                    case 4:
                        if let id = ids.randomElement(using: &rng) { _ = try? await cp.cancel(id, by: Lifecycle.alice) }
                    case 5:
                        cp = try await h.controlPlane()
                    case 6:
                        await MeteringService.catchUp(h.store, batch: 1 + rng.int(5), logger: Self.logger)
                    default:
                        h.clock.advance(by: Double(rng.int(600)))
                    }
                    await cp.tick()
                }
                await MeteringService.catchUp(h.store, logger: Self.logger)
                let problems = try await Self.compare(h)
                #expect(problems.isEmpty, "seed \(seed): \(problems)")
                // Caught up: a second pass adds nothing.
                let before = try await h.store.usage(since: nil, until: nil, team: nil)
                #expect(await MeteringService.catchUp(h.store, logger: Self.logger) == 0)
                #expect(try await h.store.usage(since: nil, until: nil, team: nil) == before)
                #expect(try await h.store.usageCursor() == (try await h.store.transitionHead()))
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }
}
