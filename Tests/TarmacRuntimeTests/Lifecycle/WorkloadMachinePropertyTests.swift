import TarmacCore
import Foundation
import PropertyBased
import Testing
import TarmacEngine
import TarmacRuntime

/// Invariants of the lifecycle over random event sequences (any order, stale attempts, duplicates), in virtual time.
@Suite struct WorkloadMachinePropertyTests {
    static let machine = WorkloadMachine(trustDomain: "acme")
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func document(_ rng: inout SplitMix64) -> String {
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: Lifecycle.training("t", workers: Int.random(in: 1...3, using: &rng), maxDuration: Bool.random(using: &rng) ? "1h" : nil)
        case 1: Lifecycle.batch("b", retries: Int.random(in: 0...5, using: &rng), maxDuration: Bool.random(using: &rng) ? "30m" : nil,
                                tasks: Int.random(in: 1...4, using: &rng), parallelism: Int.random(in: 1...3, using: &rng))
        default: Lifecycle.batch("c", retries: 0)
        }
    }

    static func event(_ t: TrackedWorkload, _ rng: inout SplitMix64) -> WorkloadEvent {
        let attempt = Bool.random(using: &rng) ? t.entry.attempt : Int.random(in: 0...(t.entry.attempt + 1), using: &rng)
        let pod = Int.random(in: 0..<max(1, t.entry.podCount), using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1: return .admitted(placements: Lifecycle.placements(t.entry.podCount), charge: Lifecycle.charge)
        case 2: return .started(attempt: attempt, reportedByBackend: Bool.random(using: &rng))
        case 3, 4:
            let code = [0, 0, 1, 137, 127].randomElement(using: &rng)!
            let reason: PodExit.Reason = [.exited, .exited, .outOfMemory, .lost, .stopped].randomElement(using: &rng)!
            return .podExited(PodExit(workload: t.id, attempt: attempt, pod: pod, reason: reason, exitCode: code))
        case 5: return .preempted(by: "other", reason: "priority")
        case 6: return .cancelRequested(by: Lifecycle.admin.actor, name: "admin")
        case 7: return .deadline
        case 8: return .checkpointed(CheckpointMark(at: t0, attempt: attempt, step: 1), by: Lifecycle.admin.actor)
        default: return .launchFailed(attempt: attempt, detail: "no such file")
        }
    }

    @Test func theLifecycleInvariantsHoldForAnySequenceOfEvents() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0...UInt64.max)) { seed in
            var rng = SplitMix64(seed: seed)
            var t = Lifecycle.tracked(Self.document(&rng), at: Self.t0)
            var now = Self.t0
            for _ in 0..<40 {
                now += Double(Int.random(in: 0...2400, using: &rng))
                let ev = Self.event(t, &rng)
                let (next, effects) = Self.machine.step(t, ev, now: now)
                let persisted = effects.compactMap { if case .persist(let a) = $0 { a } else { nil } }
                let emitted = effects.compactMap { if case .emit(let tr) = $0 { tr } else { nil } }
                // Ended is ended: nothing moves it again.
                if t.state.isTerminal {
                    #expect(effects.isEmpty && next.entry == t.entry, "seed \(seed): \(ev) moved a \(t.state) workload")
                }
                // Every persisted step is one transition, from the old state to the new one, named as its audit record.
                #expect(persisted.count == emitted.count && persisted.count <= 1)
                for (a, tr) in zip(persisted, emitted) {
                    #expect(a.action == tr.event && tr.from == t.state && tr.to == next.state && tr.attempt == next.entry.attempt)
                }
                // No change of state without a record of it; a record only when something changed.
                if next.state != t.state || next.entry.attempt != t.entry.attempt { #expect(persisted.count == 1, "seed \(seed): \(ev)") }
                if persisted.isEmpty { #expect(next.entry == t.entry || next.endedPods != t.endedPods, "seed \(seed): a silent change by \(ev)") }
                // Capacity is held exactly while admitted or running.
                #expect(next.state.holdsCapacity == !next.entry.placements.isEmpty, "seed \(seed): \(next.state) with \(next.entry.placements.count) placements")
                #expect(next.state.holdsCapacity == (next.entry.charged != nil))
                // Attempts never run out from under a preemption, never exceed what is allowed.
                #expect(next.entry.attempt <= next.entry.maxAttempts)
                // Usage only grows.
                #expect(next.entry.gpuSeconds >= t.entry.gpuSeconds && next.entry.cpuSeconds >= t.entry.cpuSeconds)
                // The backend frees a workload when, and only when, it ends; pods launch only for the attempt it holds.
                #expect(effects.contains(.release) == (next.state.isTerminal && !t.state.isTerminal))
                for case .launch(let attempt, _) in effects { #expect(next.state == .admitted && attempt == next.entry.attempt) }
                t = next
            }
        }
    }
}
