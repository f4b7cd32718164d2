import Foundation
import TarmacCore
import TarmacMetering
import TarmacModel
import Testing

/// Idle reclaim's judgement (#27), on a test clock: notice after `for` under the threshold, the action after `grace`,
/// once; a busy workload untouched; use in between clears the notice; a break in the readings starts the run again.
@Suite struct IdleJudgeTests {
    let policy = IdlePolicy(gpuUtilizationBelow: 5, duration: TimeSpan(seconds: 1800), action: .scaleToZero, grace: TimeSpan(seconds: 600))

    /// Samples every `step` seconds from the clock's time for `seconds`, each workload at its utilization.
    func run(_ judge: inout IdleJudge, _ clock: ManualClock, seconds: Int, step: Int = 10, _ utilization: [String: Double]) -> [(Date, IdleJudge.Verdict)] {
        var out: [(Date, IdleJudge.Verdict)] = []
        for _ in stride(from: 0, to: seconds, by: step) {
            let readings = utilization.sorted { $0.key < $1.key }.map { IdleJudge.Reading(workload: $0.key, utilization: $0.value, policy: policy) }
            out += judge.observe(readings, at: clock.now).map { (clock.now, $0) }
            clock.advance(by: .seconds(step))
        }
        return out
    }

    @Test func anIdleServiceIsNoticedThenActedOnAfterTheGraceAndABusyOneIsUntouched() throws {
        let clock = ManualClock()
        let t0 = clock.now
        var judge = IdleJudge()
        let verdicts = run(&judge, clock, seconds: 3600, ["idle": 1.5, "busy": 62])
        #expect(verdicts.count == 2, "\(verdicts)")
        let (noticedAt, notice) = try #require(verdicts.first)
        guard case .notice(let w, let evidence, let actAt) = notice else { Issue.record("\(notice)"); return }
        #expect(w == "idle" && noticedAt == t0 + 1800 && actAt == t0 + 2400)
        #expect(evidence.samples == 181 && evidence.mean == 1.5 && evidence.max == 1.5 && evidence.series.count == 12 && evidence.since == t0)
        #expect(evidence.summary.contains("GPU utilization under 5.0%") && evidence.summary.contains("mean 1.5%"), "\(evidence.summary)")
        let (actedAt, act) = verdicts[1]
        guard case .act(let a, let action, let e2) = act else { Issue.record("\(act)"); return }
        #expect(a == "idle" && action == .scaleToZero && actedAt == t0 + 2400 && e2.samples == 241)
        #expect(!verdicts.contains { if case .notice(let w, _, _) = $0.1 { w == "busy" } else { false } }, "the busy one is never noticed")
    }

    @Test func useWithinTheGraceClearsTheNoticeAndABreakInTheReadingsStartsAgain() {
        let clock = ManualClock()
        var judge = IdleJudge(maxGap: 120)
        var verdicts = run(&judge, clock, seconds: 1900, ["svc": 0])
        #expect(verdicts.count == 1)
        // Used again within the grace: cleared, no action.
        verdicts = run(&judge, clock, seconds: 20, ["svc": 40])
        #expect(verdicts.map(\.1) == [.cleared(workload: "svc", utilization: 40)])
        verdicts = run(&judge, clock, seconds: 1700, ["svc": 0])
        #expect(verdicts.isEmpty, "a new run of 1700 s is shorter than 30m")
        // Readings stop for 5 minutes (telemetry gone): the run starts again.
        clock.advance(by: .seconds(300))
        verdicts = run(&judge, clock, seconds: 1700, ["svc": 0])
        #expect(verdicts.isEmpty, "\(verdicts)")
        // A workload that is gone is forgotten.
        _ = judge.observe([], at: clock.now)
        #expect(judge.watching.isEmpty)
    }

    @Test func notifyOnlyNoticesOnce() {
        let clock = ManualClock()
        var judge = IdleJudge()
        var verdicts: [IdleJudge.Verdict] = []
        let notify = IdlePolicy(gpuUtilizationBelow: 10, duration: TimeSpan(seconds: 60), action: .notify, grace: TimeSpan(seconds: 0))
        for _ in 0..<100 {
            verdicts += judge.observe([IdleJudge.Reading(workload: "nb", utilization: 3, policy: notify)], at: clock.now)
            clock.advance(by: .seconds(5))
        }
        #expect(verdicts.count == 1)
        if case .notice(_, _, let actAt) = verdicts.first { #expect(actAt == nil) } else { Issue.record("\(verdicts)") }
    }
}
