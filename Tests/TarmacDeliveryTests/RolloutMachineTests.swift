import Foundation
import PropertyBased
import TarmacDelivery
import TarmacTesting
import Testing

/// The rollout machine in virtual time: every step decided by the test, no clock, no gateway.
@Suite struct RolloutMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let rules = [AnalysisRule(.successRate, 0.99, minRequests: 100), AnalysisRule(.p99LatencyMs, 250, minRequests: 100)]
    static let good = Measurement(requests: 400, successRate: 0.999, p99LatencyMs: 120)
    static let failing = Measurement(requests: 400, successRate: 0.62, p99LatencyMs: 130)

    static func routes(_ effects: [RolloutEffect]) -> [[String: Int]] {
        effects.compactMap { if case .route(let r) = $0 { r } else { nil } }
    }

    static func canary(_ steps: [RolloutSpec.CanaryStep], window: Int64 = 600) -> RolloutMachine {
        RolloutMachine(spec: RolloutSpec(strategy: .canary(steps: steps), rules: rules, rollbackWindow: window))
    }

    @Test func aHealthyCanaryIsPromotedThroughEveryStep() {
        let m = Self.canary([.setWeight(10), .analysis(seconds: 60), .setWeight(50), .analysis(seconds: 60)])
        var (r, effects) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        #expect(Self.routes(effects) == [["v1": 90, "v2": 10]] && effects.contains(.measure(seconds: 60)))
        (r, effects) = m.step(r, .measured(Self.good), now: Self.t0.addingTimeInterval(60))
        #expect(Self.routes(effects) == [["v1": 50, "v2": 50]] && r.weight == 50)
        (r, effects) = m.step(r, .measured(Self.good), now: Self.t0.addingTimeInterval(120))
        #expect(Self.routes(effects) == [["v1": 0, "v2": 100]] && r.weight == 100)
        guard case .promoted(_, let warmUntil) = r.phase else { Issue.record("not promoted: \(r.phase)"); return }
        #expect(warmUntil == Self.t0.addingTimeInterval(120 + 600) && effects.contains(.keepWarm(version: "v1", until: warmUntil)))
        #expect(effects.contains { if case .record("rollout-promote", _) = $0 { true } else { false } })
    }

    @Test func aFailedAnalysisRollsBackAtOnceWithTheFigures() {
        let m = Self.canary([.setWeight(10), .analysis(seconds: 60), .setWeight(100)])
        var (r, _) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        let effects: [RolloutEffect]
        (r, effects) = m.step(r, .measured(Self.failing), now: Self.t0.addingTimeInterval(60))
        #expect(Self.routes(effects) == [["v1": 100, "v2": 0]] && r.weight == 0 && effects.contains(.retire(version: "v2")))
        guard case .rolledBack(_, let reason) = r.phase else { Issue.record("\(r.phase)"); return }
        #expect(reason.contains("success rate 0.62 below 0.99 over 400 requests"), "\(reason)")
        #expect(!reason.contains("latency"), "only the failing rule is named: \(reason)")
        // Nothing moves it afterwards.
        #expect(m.step(r, .promote(by: "bob"), now: Self.t0.addingTimeInterval(61)).effects.isEmpty)
        #expect(m.step(r, .measured(Self.good), now: Self.t0.addingTimeInterval(62)).effects.isEmpty)
    }

    @Test func tooFewRequestsMeasureAgain() {
        let m = Self.canary([.setWeight(10), .analysis(seconds: 60)])
        var (r, _) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        let effects: [RolloutEffect]
        (r, effects) = m.step(r, .measured(Measurement(requests: 12, successRate: 1, p99LatencyMs: 10)), now: Self.t0.addingTimeInterval(60))
        #expect(r.weight == 10 && Self.routes(effects).isEmpty && effects.contains(.measure(seconds: 60)))
        #expect(r.phase == .analyzing(step: 1, since: Self.t0.addingTimeInterval(60)))
    }

    @Test func pausesEndOnTheirTimeOrOnAPromotion() {
        let m = Self.canary([.setWeight(20), .pause(seconds: 300), .setWeight(60), .pause(seconds: nil), .setWeight(100)])
        var (r, _) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        #expect(m.step(r, .tick, now: Self.t0.addingTimeInterval(299)).effects.isEmpty, "not before its time")
        var effects: [RolloutEffect]
        (r, effects) = m.step(r, .tick, now: Self.t0.addingTimeInterval(300))
        #expect(Self.routes(effects) == [["v1": 40, "v2": 60]])
        #expect(m.step(r, .tick, now: Self.t0.addingTimeInterval(86_400)).effects.isEmpty, "an open pause waits for a person")
        (r, effects) = m.step(r, .promote(by: "bob"), now: Self.t0.addingTimeInterval(400))
        #expect(Self.routes(effects) == [["v1": 0, "v2": 100]] && r.isOver)
    }

    @Test func anAbortSendsEverythingBack() {
        let m = Self.canary([.setWeight(30), .analysis(seconds: 60)])
        let (r, _) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        let (a, effects) = m.step(r, .abort(by: "carol"), now: Self.t0.addingTimeInterval(10))
        #expect(Self.routes(effects) == [["v1": 100, "v2": 0]] && a.phase == .aborted(at: Self.t0.addingTimeInterval(10), by: "carol"))
    }

    /// After a promotion the previous version stays warm for the rollback window: a rollback then is one routing change;
    /// once the window closed (its replicas let go) the rollback says it is cold.
    @Test func rollbackIsWarmInsideTheWindowAndColdAfter() {
        let m = Self.canary([.setWeight(100)], window: 600)
        let (promoted, _) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        let warm = m.step(promoted, .rollback(by: "dan"), now: Self.t0.addingTimeInterval(599))
        #expect(Self.routes(warm.effects) == [["v1": 100, "v2": 0]])
        #expect(warm.effects.contains { if case .record("rollout-rollback", let d) = $0 { d.contains("(warm)") } else { false } })
        let (closed, retire) = m.step(promoted, .tick, now: Self.t0.addingTimeInterval(600))
        #expect(retire.contains(.retire(version: "v1")) && closed.previousRetired)
        #expect(m.step(closed, .tick, now: Self.t0.addingTimeInterval(700)).effects.isEmpty, "retired once")
        let cold = m.step(closed, .rollback(by: "dan"), now: Self.t0.addingTimeInterval(700))
        #expect(cold.effects.contains { if case .record("rollout-rollback", let d) = $0 { d.contains("cold") } else { false } })
    }

    @Test func blueGreenSwitchesAllAtOnceAfterItsAnalysisOrAPromotion() {
        let m = RolloutMachine(spec: RolloutSpec(strategy: .blueGreen, rules: Self.rules))
        var (r, effects) = m.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        #expect(Self.routes(effects) == [["v1": 100, "v2": 0]] && effects.contains(.measure(seconds: RolloutMachine.blueGreenWindow)))
        (r, effects) = m.step(r, .measured(Self.good), now: Self.t0.addingTimeInterval(300))
        #expect(Self.routes(effects) == [["v1": 0, "v2": 100]] && r.isOver)
        let manual = RolloutMachine(spec: RolloutSpec(strategy: .blueGreen))
        let (waiting, _) = manual.start(previous: "v1", next: "v2", by: "alice", now: Self.t0)
        #expect(manual.step(waiting, .tick, now: Self.t0.addingTimeInterval(86_400)).effects.isEmpty)
        #expect(Self.routes(manual.step(waiting, .promote(by: "bob"), now: Self.t0).effects) == [["v1": 0, "v2": 100]])
    }

    /// Whatever the steps and the events: every routing sums to 100 over exactly the two versions; the rollout's weight is
    /// the last routing's share of the new version; an ended rollout (rolled back, aborted) never routes again; a failed
    /// analysis always ends with every request on the previous version.
    @Test func routingInvariantsHoldForAnySequence() async {
        await propertyCheck(input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SeededGenerator(seed: seed)
            var steps: [RolloutSpec.CanaryStep] = []
            for _ in 0..<(1 + rng.int(6)) {
                switch rng.int(3) {
                case 0: steps.append(.setWeight(rng.int(101)))
                case 1: steps.append(.pause(seconds: rng.int(2) == 0 ? nil : Int64(1 + rng.int(100))))
                default: steps.append(.analysis(seconds: Int64(1 + rng.int(100))))
                }
            }
            let m = Self.canary(steps)
            var now = Self.t0
            var (r, effects) = m.start(previous: "v1", next: "v2", by: "t", now: now)
            var ended = false
            for _ in 0..<30 {
                for route in Self.routes(effects) {
                    #expect(Set(route.keys) == ["v1", "v2"] && route.values.reduce(0, +) == 100, "\(route)")
                    #expect(!ended, "an ended rollout routed again")
                }
                if let last = Self.routes(effects).last { #expect(last["v2"] == r.weight) }
                if case .rolledBack = r.phase { ended = true }
                if case .aborted = r.phase { ended = true }
                now = now.addingTimeInterval(Double(rng.int(120)))
                let event: RolloutEvent = switch rng.int(6) {
                case 0: .tick
                case 1: .measured(Self.good)
                case 2: .measured(Self.failing)
                case 3: .promote(by: "p")
                case 4: .abort(by: "a")
                default: .rollback(by: "b")
                }
                let wasAnalyzing = if case .analyzing = r.phase { true } else { false }
                (r, effects) = m.step(r, event, now: now)
                if wasAnalyzing, event == .measured(Self.failing) { #expect(Self.routes(effects).last == ["v1": 100, "v2": 0] && r.weight == 0) }
            }
        }
    }
}

@Suite struct CanaryStepParsingTests {
    @Test func stepsAreReadAsPeopleWriteThem() throws {
        let cases: [(String, RolloutSpec.CanaryStep)] = [("10", .setWeight(10)), ("25%", .setWeight(25)), ("analysis 60s", .analysis(seconds: 60)),
                                                         ("analysis:2m", .analysis(seconds: 120)), ("pause 1h", .pause(seconds: 3600)), ("pause", .pause(seconds: nil))]
        for (text, step) in cases {
            #expect(try RolloutSpec.CanaryStep.parse(text).get() == step, "\(text)")
            #expect(try RolloutSpec.CanaryStep.parse(step.text).get() == step, "\(step.text) reads back")
        }
        for bad in ["101", "-5", "analysis", "analysis 0s", "wait 5s", "pause soon"] {
            guard case .failure(let p) = RolloutSpec.CanaryStep.parse(bad) else { Issue.record("'\(bad)' was read as a step"); continue }
            #expect(p.description.contains(bad), "\(p)")
        }
    }
}
