import TarmacCore
import Foundation
import Testing
import TarmacRuntime

/// The pure state machine: every rule as a step from a record and an event to a record and effects, in virtual time.
@Suite struct WorkloadMachineTests {
    let machine = WorkloadMachine(trustDomain: "acme")
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func audits(_ effects: [WorkloadEffect]) -> [String] {
        effects.compactMap { if case .persist(let a) = $0 { a.action } else { nil } }
    }

    @Test func retriesBackOffDoublingUpToTheCapThenFail() {
        var t = Lifecycle.tracked(Lifecycle.batch("flaky", retries: 8), at: t0)
        var now = t0
        var waits: [Double] = []
        for attempt in 1...9 {
            (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: now)
            #expect(t.entry.attempt == attempt && t.state == .admitted)
            now += 30
            let (next, effects) = machine.step(t, .podExited(PodExit(workload: t.id, attempt: attempt, pod: 0, reason: .exited, exitCode: 1)), now: now)
            t = next
            if attempt < 9 {
                #expect(t.state == .queued)
                #expect(audits(effects) == ["retry"])
                waits.append(t.entry.notBefore!.timeIntervalSince(now))
                now = t.entry.notBefore!
            } else {
                #expect(t.state == .failed && t.entry.cause == "ApplicationError")
                #expect(effects.contains(.release))
            }
        }
        #expect(waits == [1, 2, 4, 8, 16, 32, 60, 60])
        #expect(machine.backoff(afterAttempt: 1000) == 60)
    }

    @Test func aDeterministicFailureIsNotRetried() {
        var t = Lifecycle.tracked(Lifecycle.batch("typo", retries: 5), at: t0)
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        (t, _) = machine.step(t, .podExited(PodExit(workload: t.id, attempt: 1, pod: 0, reason: .exited, exitCode: 127)), now: t0 + 1)
        #expect(t.state == .failed && t.entry.cause == "CommandNotFound" && t.entry.attempt == 1)
    }

    @Test func preemptionDoesNotUseUpAnAttempt() {
        var t = Lifecycle.tracked(Lifecycle.training("ft"), at: t0)
        let allowed = t.entry.maxAttempts
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        (t, _) = machine.step(t, .started(attempt: 1, reportedByBackend: false), now: t0 + 1)
        let (after, effects) = machine.step(t, .preempted(by: "wl-urgent", reason: "priority 1000 > 100"), now: t0 + 100)
        #expect(after.state == .queued && after.entry.attempt == 1)
        #expect(after.entry.maxAttempts - after.entry.attempt == allowed - 1 + 1, "the preempted attempt is given back")
        #expect(audits(effects) == ["preempt"] && effects.contains(.stop(attempt: 1)) && !effects.contains(.release))
        #expect(after.entry.placements.isEmpty && after.entry.charged == nil)
        // 99 s of 1 CPU were used before it was preempted.
        #expect(abs(after.entry.cpuSeconds - 99) < 0.001)
        let (again, _) = machine.step(after, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0 + 200)
        #expect(again.entry.attempt == 2 && again.entry.maxAttempts == allowed + 1)
    }

    /// A lost cluster is not the workload's fault: the next attempt is queued at once (no back-off), the attempt is
    /// given back, and it happens as often as clusters are lost, even on the last attempt.
    @Test func aLostClusterRequeuesAtOnceWithoutUsingAnAttempt() {
        var t = Lifecycle.tracked(Lifecycle.training("ft", workers: 2), at: t0)
        let allowed = t.entry.maxAttempts
        var now = t0
        for attempt in 1...(allowed + 2) {
            (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(2), charge: Lifecycle.charge), now: now)
            (t, _) = machine.step(t, .started(attempt: attempt, reportedByBackend: true), now: now + 1)
            now += 60
            let lost = PodExit(workload: t.id, attempt: attempt, pod: 0, reason: .clusterLost, detail: "cluster east did not answer for 15s")
            let (next, effects) = machine.step(t, .podExited(lost), now: now)
            t = next
            #expect(t.state == .queued && t.entry.cause == "ClusterLost" && t.entry.notBefore == now)
            #expect(audits(effects) == ["retry"] && effects.contains(.stop(attempt: attempt)))
            #expect(t.entry.maxAttempts == allowed + attempt, "each lost attempt is given back")
            #expect(t.entry.message?.contains("cluster was lost: cluster east did not answer for 15s") == true, "\(t.entry.message ?? "")")
        }
        #expect(t.entry.attempt == allowed + 2)
    }

    @Test(arguments: ["queued", "admitted", "running"])
    func cancelInEachState(_ state: String) {
        var t = Lifecycle.tracked(Lifecycle.training("ft", workers: 2), at: t0)
        if state != "queued" { (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(2), charge: Lifecycle.charge), now: t0) }
        if state == "running" { (t, _) = machine.step(t, .started(attempt: 1, reportedByBackend: true), now: t0 + 1) }
        #expect(t.state.rawValue == state)
        let (c, effects) = machine.step(t, .cancelRequested(by: Lifecycle.admin.actor, name: "admin"), now: t0 + 10)
        if state == "queued" {
            #expect(c.state == .cancelled && audits(effects) == ["cancel"])
            #expect(effects.contains(.release) && !effects.contains(.stop(attempt: 0)))
            return
        }
        // Admitted or running: the pods are stopped first; it is cancelled when every pod has ended.
        #expect(c.state.rawValue == state && c.entry.cancelRequested && audits(effects) == ["cancel-request"])
        #expect(effects.contains(.stop(attempt: 1)) && !effects.contains(.release))
        var d = c
        (d, _) = machine.step(d, .podExited(PodExit(workload: t.id, attempt: 1, pod: 0, reason: .stopped)), now: t0 + 11)
        #expect(d.state.rawValue == state, "one pod of two is still stopping")
        let (done, last) = machine.step(d, .podExited(PodExit(workload: t.id, attempt: 1, pod: 1, reason: .stopped)), now: t0 + 12)
        #expect(done.state == .cancelled && audits(last) == ["cancel"] && last.contains(.release))
        // A second cancel changes nothing.
        #expect(machine.step(done, .cancelRequested(by: Lifecycle.admin.actor, name: "admin"), now: t0 + 13).effects.isEmpty)
    }

    @Test func aLateStartKeepsItAdmittedAndAStaleOneIsIgnored() {
        var t = Lifecycle.tracked(Lifecycle.training("ft"), at: t0)
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        #expect(machine.step(t, .started(attempt: 7, reportedByBackend: true), now: t0 + 1).effects.isEmpty, "another attempt's start")
        let (r, effects) = machine.step(t, .started(attempt: 1, reportedByBackend: true), now: t0 + 90)
        #expect(r.state == .running && r.entry.startedAt == t0 + 90 && audits(effects) == ["run"])
    }

    /// The backend's own times stand: a start reported late counts from the pod's start; a pod that started and ended
    /// unseen (the control plane was down) has its start recorded, and it is billed from its start to its end, not
    /// from admission to the moment the control plane looked.
    @Test func usageCountsBetweenThePodsOwnStartAndEnd() throws {
        var t = Lifecycle.tracked(Lifecycle.batch("down", retries: 0), at: t0)
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        var exit = PodExit(workload: t.id, attempt: 1, pod: 0, reason: .exited, exitCode: 0)
        exit.startedAt = t0 + 40
        exit.finishedAt = t0 + 100
        let (done, effects) = machine.step(t, .podExited(exit), now: t0 + 3600)
        #expect(audits(effects) == ["run", "succeed"], "the start is recorded before the end")
        #expect(done.state == .succeeded && done.entry.startedAt == t0 + 40 && done.entry.finishedAt == t0 + 100)
        #expect(abs(done.entry.cpuSeconds - 30) < 0.001, "half a CPU (cpu-small) for the 60 s it ran: \(done.entry.cpuSeconds)")
        let transitions = effects.compactMap { if case .emit(let tr) = $0 { tr } else { nil } }
        let succeed = try #require(transitions.last)
        #expect(succeed.usageSince == t0 + 40 && succeed.usageUntil == t0 + 100 && succeed.at == t0 + 3600)
        // A start the backend reports late counts from the pod's own start; times outside [admission, now] are held to it.
        var u = Lifecycle.tracked(Lifecycle.batch("late", retries: 0), at: t0)
        (u, _) = machine.step(u, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        #expect(machine.step(u, .started(attempt: 1, reportedByBackend: true, at: t0 + 7), now: t0 + 30).record.entry.startedAt == t0 + 7)
        #expect(machine.step(u, .started(attempt: 1, reportedByBackend: true, at: t0 - 5), now: t0 + 30).record.entry.startedAt == t0)
        #expect(machine.step(u, .started(attempt: 1, reportedByBackend: true, at: t0 + 99), now: t0 + 30).record.entry.startedAt == t0 + 30)
        // A failed attempt that ended unseen is billed until its end, then retried.
        var r = Lifecycle.tracked(Lifecycle.batch("flaky", retries: 2), at: t0)
        (r, _) = machine.step(r, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        (r, _) = machine.step(r, .started(attempt: 1, reportedByBackend: true, at: t0 + 5), now: t0 + 6)
        var failed = PodExit(workload: r.id, attempt: 1, pod: 0, reason: .exited, exitCode: 1)
        failed.finishedAt = t0 + 25
        let (retried, _) = machine.step(r, .podExited(failed), now: t0 + 500)
        #expect(retried.state == .queued && abs(retried.entry.cpuSeconds - 10) < 0.001, "\(retried.entry.cpuSeconds)")
    }

    @Test func aFailedLaunchIsItsOwnEventNotAnInventedExit() {
        var t = Lifecycle.tracked(Lifecycle.training("ft"), at: t0)
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        let (f, effects) = machine.step(t, .launchFailed(attempt: 1, detail: "exec: no such file"), now: t0 + 1)
        #expect(f.state == .failed && f.entry.cause == "LaunchFailed" && f.entry.message?.contains("no such file") == true)
        #expect(f.entry.exitCode == nil && audits(effects) == ["fail"])
    }

    @Test func theDeadlineIsKeptOnTheClockItIsGiven() {
        var t = Lifecycle.tracked(Lifecycle.training("ft", maxDuration: "1h"), at: t0)
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: t0)
        (t, _) = machine.step(t, .started(attempt: 1, reportedByBackend: false), now: t0)
        #expect(machine.step(t, .deadline, now: t0 + 3599).effects.isEmpty, "not yet")
        let (d, effects) = machine.step(t, .deadline, now: t0 + 3600)
        #expect(d.state == .failed && d.entry.cause == "DeadlineExceeded")
        #expect(d.entry.message?.contains("maxDuration of 1h") == true)
        #expect(effects.contains(.stop(attempt: 1)) && effects.contains(.release))
    }

    @Test func everyPersistedStepIsEmittedOnceAsATransition() {
        var t = Lifecycle.tracked(Lifecycle.training("ft"), at: t0)
        var events: [WorkloadEvent] = [.admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), .started(attempt: 1, reportedByBackend: false),
                                       .checkpointed(CheckpointMark(at: t0 + 50, attempt: 1, step: 100), by: Lifecycle.admin.actor),
                                       .podExited(PodExit(workload: "wl-1", attempt: 1, pod: 0, reason: .exited, exitCode: 0))]
        var seen: [String] = []
        var now = t0
        while !events.isEmpty {
            now += 60
            let (next, effects) = machine.step(t, events.removeFirst(), now: now)
            let persisted = audits(effects)
            let emitted = effects.compactMap { if case .emit(let tr) = $0 { tr } else { nil } }
            #expect(persisted.count == emitted.count && persisted == emitted.map(\.event))
            for tr in emitted { #expect(tr.from == t.state && tr.to == next.state) }
            seen += emitted.map(\.event)
            t = next
        }
        #expect(seen == ["admit", "run", "checkpoint", "succeed"])
        #expect(t.entry.lastCheckpoint?.step == 100)
    }
}

/// A failure that repeats itself exactly is not retried again; one that changes, or a workload that asks for every
/// attempt, is.
@Suite struct IdenticalFailureTests {
    let machine = WorkloadMachine(trustDomain: "acme")
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let traceback = ["Traceback (most recent call last):", "  File \"train.py\", line 12, in <module>", "ValueError: bad shape (3, 4) at step 1200"]

    func fail(_ t: TrackedWorkload, attempt: Int, lines: [String], at now: Date) -> TrackedWorkload {
        var t = t
        (t, _) = machine.step(t, .admitted(placements: Lifecycle.placements(1), charge: Lifecycle.charge), now: now)
        (t, _) = machine.step(t, .podExited(PodExit(workload: t.id, attempt: attempt, pod: 0, reason: .exited, exitCode: 1, lastLines: lines)), now: now + 5)
        return t
    }

    @Test func theSameTracebackTwiceEndsTheWorkload() {
        var t = Lifecycle.tracked(Lifecycle.batch("same", retries: 5), at: t0)
        t = fail(t, attempt: 1, lines: traceback, at: t0)
        #expect(t.state == .queued, "the first failure is retried")
        // The same exception; only numbers (step, time) differ.
        t = fail(t, attempt: 2, lines: traceback.map { $0.replacingOccurrences(of: "1200", with: "1300") }, at: t0 + 100)
        #expect(t.state == .failed && t.entry.attempt == 2 && t.entry.cause == "ApplicationError", "\(t.entry)")
        #expect(t.entry.message?.contains("Failed the same way twice (attempt 2 as the one before it): not retrying") == true, "\(t.entry.message ?? "")")
        #expect(t.entry.message?.contains("spec.retryIdenticalFailures: true") == true)
    }

    @Test func aDifferentFailureIsRetried() {
        var t = Lifecycle.tracked(Lifecycle.batch("changing", retries: 5), at: t0)
        t = fail(t, attempt: 1, lines: traceback, at: t0)
        t = fail(t, attempt: 2, lines: ["ConnectionResetError: [Errno 104] Connection reset by peer"], at: t0 + 100)
        #expect(t.state == .queued && t.entry.attempt == 2)
        // Nothing printed at all: no evidence that two failures are the same.
        var quiet = Lifecycle.tracked(Lifecycle.batch("quiet", retries: 5), at: t0)
        quiet = fail(quiet, attempt: 1, lines: [], at: t0)
        quiet = fail(quiet, attempt: 2, lines: [], at: t0 + 100)
        #expect(quiet.state == .queued)
    }

    @Test func aWorkloadMayAskForEveryAttempt() {
        var t = Lifecycle.tracked(Lifecycle.batch("stubborn", retries: 2) + "  retryIdenticalFailures: true\n", at: t0)
        #expect(t.plan?.workload.retryIdenticalFailures == true)
        for attempt in 1...3 { t = fail(t, attempt: attempt, lines: traceback, at: t0 + Double(attempt) * 100) }
        #expect(t.state == .failed && t.entry.attempt == 3)
        #expect(t.entry.message?.contains("same way") == false)
    }
}
