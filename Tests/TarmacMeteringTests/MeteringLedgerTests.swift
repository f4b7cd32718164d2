import Foundation
import PropertyBased
import TarmacCore
import TarmacMetering
import TarmacTesting
import Testing

@Suite struct MeteringLedgerTests {
    static func transition(_ event: String, team: String, from: WorkloadState?, to: WorkloadState, gpu: Double = 0, cpu: Double = 0) -> Transition {
        Transition(workload: "wl-1", name: "n", team: team, env: "dev", kind: "TrainingJob", attempt: 1, event: event, from: from, to: to,
                   at: Date(timeIntervalSince1970: 1_800_000_000), pods: 1, cause: nil, gpuSeconds: gpu, cpuSeconds: cpu)
    }

    /// Usage adds up per team, whatever the order of the teams' transitions; admissions, preemptions and completions
    /// are counted once each.
    @Test func usageAddsUpPerTeam() async {
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            var ledger = MeteringLedger()
            var gpu: [String: Double] = [:], admits: [String: Int] = [:], done: [String: Int] = [:]
            for _ in 0..<rng.int(60) {
                let team = rng.pick(["search", "ads", "platform"])
                let g = Double(rng.int(1000)) / 10
                switch rng.int(3) {
                case 0:
                    _ = ledger.record(Self.transition("admit", team: team, from: .queued, to: .admitted))
                    admits[team, default: 0] += 1
                case 1:
                    _ = ledger.record(Self.transition("run", team: team, from: .admitted, to: .running, gpu: g))
                    gpu[team, default: 0] += g
                default:
                    _ = ledger.record(Self.transition("succeed", team: team, from: .running, to: .succeeded, gpu: g))
                    gpu[team, default: 0] += g
                    done[team, default: 0] += 1
                }
            }
            for (team, want) in gpu { #expect(abs((ledger.gpuSeconds[team] ?? 0) - want) < 1e-6) }
            #expect(ledger.admissions == admits)
            #expect(ledger.completions.mapValues { $0["succeeded"] ?? 0 } == done)
        }
    }

    /// A negative usage (a clock set back) never takes seconds away; an ended workload's repeat of its end is not a
    /// second completion.
    @Test func negativeUsageAndRepeatedEndsAreNotCounted() {
        var ledger = MeteringLedger()
        _ = ledger.record(Self.transition("run", team: "ads", from: .admitted, to: .running, gpu: -5, cpu: -1))
        let end = ledger.record(Self.transition("cancel", team: "ads", from: .running, to: .cancelled))
        let again = ledger.record(Self.transition("cancel", team: "ads", from: .cancelled, to: .cancelled))
        #expect(ledger.gpuSeconds["ads"] == 0 && ledger.cpuSeconds["ads"] == 0)
        #expect(end.completed == "cancelled" && again.completed == nil && ledger.completions["ads"]?["cancelled"] == 1)
    }
}
