import TarmacCore
import Foundation
import TarmacModel
import TarmacPlanning

/// The workload lifecycle (DESIGN §5) as a pure function: `(record, event, now) -> (record', effects)`. It reads no clock
/// and does no I/O; the control plane runs its effects (store first, then the backend) and feeds back what the backend
/// reports as further events. Every rule of the lifecycle lives here: attempts and backoff, preemption, cancel in each
/// state, deadlines, checkpoints, accounting of GPU- and CPU-seconds.
public struct WorkloadMachine: Sendable {
    /// The platform's SPIFFE trust domain, for workload identities in audit details.
    public var trustDomain: String
    /// The longest wait before a retry, in seconds (backoff doubles from one second up to this).
    public var maxBackoff: Double

    public init(trustDomain: String, maxBackoff: Double = 60) {
        self.trustDomain = trustDomain
        self.maxBackoff = maxBackoff
    }

    public typealias Step = (record: TrackedWorkload, effects: [WorkloadEffect])

    /// A new workload entered the queue: stored with its plan, then handed to the backend; not scheduled before the
    /// backend has it.
    public func submitted(_ e: WorkloadEntry, plan: WorkloadPlan, by actor: AuditActor, now: Date) -> Step {
        var t = TrackedWorkload(entry: e, plan: plan)
        t.accepting = true
        return (t, [.persist(AuditDraft(time: now, actor: actor, action: "submit", object: Self.object(e), after: e.digest,
                                        detail: "\(e.kind) \(e.team)/\(e.env)/\(e.name) size \(e.size)")),
                    .emit(Transition("submit", before: nil, after: e, at: now).about(plan)), .accept])
    }

    public func step(_ t: TrackedWorkload, _ event: WorkloadEvent, now: Date) -> Step {
        var t = t
        let e = t.entry
        switch event {
        case .accepted:
            t.accepting = false
            return (t, [])

        case .admitted(let placements, let charge):
            guard e.state == .queued, !e.cancelRequested else { return (t, []) }
            var n = e
            n.state = .admitted
            n.attempt += 1
            n.admittedAt = now
            n.startedAt = nil
            n.finishedAt = nil
            n.updatedAt = now
            n.message = nil
            n.notBefore = nil
            n.scaledToZeroAt = nil
            n.placements = placements
            n.charged = charge
            t.endedPods = []
            t.lastPodEnd = nil
            let nodes = Set(placements.map(\.node)).sorted().joined(separator: ",")
            return record(&t, n, "admit", .scheduler, now, detail: "attempt \(n.attempt) on \(nodes)",
                          then: [.launch(attempt: n.attempt, pods: Array(0..<n.podCount))])

        case .started(let attempt, let reported, let at):
            guard e.state == .admitted, e.attempt == attempt, !e.cancelRequested else { return (t, []) }
            var n = e
            // Usage is counted from here (the pods' own start where the backend knows it): while admitted, its pods
            // were not yet running.
            n.state = .running
            n.startedAt = Self.within(at ?? now, from: e.admittedAt, to: now)
            n.accountedUntil = nil
            n.updatedAt = now
            return record(&t, n, "run", .lifecycle, now,
                          detail: "\(Self.pods(n.podCount)) \(reported ? "running" : "started"); workload identity \(identity(n))")

        case .preempted(let by, let reason):
            guard e.state.holdsCapacity else { return (t, []) }
            var n = requeue(e, plan: t.plan, now: now)
            n.message = "preempted by \(by) (\(reason)); back in the queue, resumes from its last checkpoint"
            // A preemption is not the workload's failure: it does not use up an attempt.
            n.maxAttempts += 1
            return record(&t, n, "preempt", .scheduler, now, detail: "by \(by): \(reason)", then: [.stop(attempt: e.attempt)])

        case .podExited(let exit):
            return podExited(t, exit, now: now)

        case .launchFailed(let attempt, let detail):
            guard e.state.holdsCapacity, e.attempt == attempt else { return (t, []) }
            return finish(t, .failed, cause: "LaunchFailed", message: "the pods of attempt \(attempt) could not be started: \(detail)",
                          actor: .lifecycle, now: now)

        case .cancelRequested(let actor, let name):
            if e.state.isTerminal || e.cancelRequested { return (t, []) }
            if e.state == .queued || e.podCount == 0 {
                return finish(t, .cancelled, cause: nil, message: "cancelled by \(name) while \(e.state == .queued ? "queued" : e.state.rawValue)",
                              actor: actor, now: now)
            }
            var n = e
            n.cancelRequested = true
            n.message = "cancel requested by \(name); stopping pods"
            n.updatedAt = now
            if t.endedPods.count >= n.podCount {
                t.entry = n
                return finish(t, .cancelled, cause: nil, message: "cancelled", actor: actor, now: now)
            }
            return record(&t, n, "cancel-request", actor, now, detail: "", then: [.stop(attempt: e.attempt)])

        case .recovered(let r):
            guard !e.state.isTerminal else { return (t, []) }
            switch r {
            case .unresolvable:
                return finish(t, .failed, cause: "InvalidAfterRestart", message: "its document no longer resolves against the platform contract",
                              actor: .lifecycle, now: now)
            case .noReplicas:
                guard e.state.holdsCapacity else { return (t, []) }
                if e.cancelRequested { return finish(t, .cancelled, cause: nil, message: "cancelled", actor: .lifecycle, now: now) }
                return finish(t, .failed, cause: "NoReplicas",
                              message: "it was admitted with no replica by an earlier version; submit it again (it now starts at least one)",
                              actor: .lifecycle, now: now)
            case .pods(let missing):
                guard e.state.holdsCapacity else { return (t, []) }
                if e.cancelRequested { return (t, [.stop(attempt: e.attempt)]) }
                return (t, missing.isEmpty ? [] : [.launch(attempt: e.attempt, pods: missing)])
            }

        case .deadline:
            guard e.state.holdsCapacity, let limit = t.plan?.workload.maxDuration, let since = e.startedAt ?? e.admittedAt else { return (t, []) }
            let ran = now.timeIntervalSince(since)
            guard ran >= Double(limit.seconds) else { return (t, []) }
            return finish(t, .failed, cause: "DeadlineExceeded", message: Self.deadlineMessage(limit: limit, ran: ran, attempt: e.attempt),
                          actor: .lifecycle, now: now, stopAttempt: true, failure: FailureFacts(maxDurationSeconds: limit.seconds, ranSeconds: Int64(ran)))

        case .checkpointed(var mark, let actor):
            guard e.state.holdsCapacity, mark.attempt == e.attempt else { return (t, []) }
            mark.at = min(mark.at, now)
            var n = e
            n.lastCheckpoint = mark
            n.updatedAt = now
            let what = [mark.step.map { "step \($0)" }, mark.location].compactMap { $0 }.joined(separator: " at ")
            return record(&t, n, "checkpoint", actor, now, detail: "attempt \(e.attempt)\(what.isEmpty ? "" : ": \(what)")")

        case .rejected(let message):
            guard e.state == .queued else { return (t, []) }
            return finish(t, .failed, cause: "Rejected", message: message, actor: .lifecycle, now: now)

        case .scaledUp(let added, let charge):
            guard e.state == .running, !e.cancelRequested, !added.isEmpty else { return (t, []) }
            var n = e
            accrue(&n, plan: t.plan, until: now, keepOpen: true)
            n.placements += added
            n.podCount += added.count
            n.charged = charge
            n.updatedAt = now
            return record(&t, n, "scale-up", .scheduler, now,
                          detail: "replica \(n.podCount) admitted on \(added.map(\.node).joined(separator: ",")): its autoscaler asked for more",
                          then: [.resize(attempt: n.attempt, nodes: n.placements.map(\.node))])

        case .idleNoticed(let evidence, let action, let actAt):
            guard e.state == .running, !e.cancelRequested else { return (t, []) }
            var n = e
            let then = actAt.map { " \(action == "scaleToZero" ? "It is scaled to zero" : "It is stopped") at \(Self.clockTime($0)) unless its GPUs are used before." } ?? ""
            n.message = "idle: \(evidence).\(then)"
            n.updatedAt = now
            return record(&t, n, "idle-notice", .idleReclaim, now, detail: "\(evidence); action \(action)\(actAt.map { " at \(Self.clockTime($0))" } ?? "")")

        case .idleCleared(let utilization):
            guard e.state == .running, e.message?.hasPrefix("idle: ") == true else { return (t, []) }
            var n = e
            n.message = nil
            n.updatedAt = now
            return record(&t, n, "idle-cleared", .idleReclaim, now, detail: "GPU utilization \(String(format: "%.1f", utilization))%: in use again")

        case .idleReclaimed(let scaleToZero, let evidence):
            guard e.state == .running, !e.cancelRequested else { return (t, []) }
            guard scaleToZero, t.plan?.isService == true else {
                return finish(t, .cancelled, cause: "Idle", message: "stopped by idle reclaim: \(evidence)", actor: .idleReclaim, now: now, stopAttempt: true)
            }
            var n = requeue(e, plan: t.plan, now: now)
            n.scaledToZeroAt = now
            // Like a preemption, it does not use up an attempt.
            n.maxAttempts += 1
            n.message = "scaled to zero by idle reclaim (\(evidence)); the next request through the inference gateway brings it back"
            return record(&t, n, "scale-to-zero", .idleReclaim, now, detail: evidence, then: [.stop(attempt: e.attempt)])

        case .woken(let by):
            guard e.state == .queued, e.scaledToZeroAt != nil, !e.cancelRequested else { return (t, []) }
            var n = e
            n.scaledToZeroAt = nil
            n.message = "woken from zero by a request of \(by); waiting for capacity"
            n.updatedAt = now
            return record(&t, n, "wake", .idleReclaim, now, detail: "a request of \(by) through the inference gateway")

        case .scaledDown(let kept):
            guard e.state == .running, e.podCount > kept.count else { return (t, []) }
            var left = e.placements
            for k in kept {
                guard let i = left.firstIndex(of: k) else { return (t, []) }
                left.remove(at: i)
            }
            var n = e
            accrue(&n, plan: t.plan, until: now, keepOpen: true)
            n.placements = kept
            n.podCount = kept.count
            n.charged = e.charged.map { $0.scaled(kept.count, of: e.podCount) }
            n.updatedAt = now
            return record(&t, n, "scale-down", .scheduler, now,
                          detail: "\(e.podCount) -> \(kept.count) replicas: its autoscaler asked for fewer; freed \(left.map(\.node).joined(separator: ","))",
                          then: [.resize(attempt: n.attempt, nodes: kept.map(\.node))])
        }
    }

    /// A pod of the current attempt ended. One that ran and ended before its start was seen (the control plane was
    /// down, or both fell between two looks) has its start recorded first, at the pod's own time: the workload ran.
    func podExited(_ t0: TrackedWorkload, _ exit: PodExit, now: Date) -> Step {
        var t = t0
        let e = t.entry
        guard e.state.holdsCapacity, exit.attempt == e.attempt else { return (t, []) }
        if let end = exit.finishedAt { t.lastPodEnd = max(t.lastPodEnd ?? end, end) }
        guard e.state == .admitted, let started = exit.startedAt, !e.cancelRequested else { return podEnded(t, exit, now: now) }
        var n = e
        n.state = .running
        n.startedAt = Self.within(started, from: e.admittedAt, to: now)
        n.accountedUntil = nil
        n.updatedAt = now
        let run = record(&t, n, "run", .lifecycle, now,
                         detail: "\(Self.pods(n.podCount)) ran (seen after pod \(exit.pod) ended); workload identity \(identity(n))")
        let ended = podEnded(run.record, exit, now: now)
        return (ended.record, run.effects + ended.effects)
    }

    /// Where the usage of an attempt whose pods ended stops: at their own last end where the backend said it, never
    /// before it was last accounted nor after now.
    func usageEnd(_ t: TrackedWorkload, now: Date) -> Date {
        guard let end = t.lastPodEnd else { return now }
        return Self.within(end, from: t.entry.accountedUntil ?? t.entry.startedAt ?? t.entry.admittedAt, to: now)
    }

    /// `date`, kept between `low` (when known) and `high`: a backend's clock may differ a little from ours.
    static func within(_ date: Date, from low: Date?, to high: Date) -> Date {
        min(high, max(low ?? date, date))
    }

    /// A pod of the current attempt ended: done, retried or failed.
    func podEnded(_ t0: TrackedWorkload, _ exit: PodExit, now: Date) -> Step {
        var t = t0
        let e = t.entry
        t.endedPods.insert(exit.pod)
        let until = usageEnd(t, now: now)
        let allEnded = t.endedPods.count >= e.podCount
        if e.cancelRequested {
            return allEnded ? finish(t, .cancelled, cause: nil, message: "cancelled", actor: .lifecycle, now: now, endedAt: until) : (t, [])
        }
        let isService = t.plan?.isService ?? false
        if exit.succeeded && !isService {
            guard allEnded else { return (t, []) }
            return finish(t, .succeeded, cause: nil, message: "all \(Self.pods(e.podCount)) succeeded", actor: .lifecycle, now: now, endedAt: until, exitCode: 0)
        }
        var triage = Triage.of(exit)
        if exit.succeeded && isService {
            triage = Triage(cause: "ServiceExited", message: "pod \(exit.pod) of a long-running service exited with code 0", retryable: true)
        }
        var facts = FailureFacts(pod: exit.pod, exitCode: exit.exitCode, signal: exit.signal, peakMemoryBytes: exit.peakMemoryBytes,
                                 memoryLimitBytes: exit.memoryLimitBytes)
        // A deadline the backend enforced: the limit, the run time and the fix.
        if exit.reason == .deadline, let limit = t.plan?.workload.maxDuration, let since = e.startedAt ?? e.admittedAt {
            let ran = until.timeIntervalSince(since)
            triage.message = Self.deadlineMessage(limit: limit, ran: ran, attempt: e.attempt)
            facts.maxDurationSeconds = limit.seconds
            facts.ranSeconds = Int64(ran)
        }
        // The rest of the gang cannot go on without this pod.
        let stopGang: [WorkloadEffect] = e.podCount > 1 ? [.stop(attempt: e.attempt)] : []
        // An application that fails the same way twice in a row would fail that way again: the attempts left (hours of
        // GPUs) are not spent on it, unless the workload asks for every attempt.
        if triage.cause == "ApplicationError", !exit.lastLines.isEmpty { facts.signature = Self.signature(of: exit) }
        if triage.retryable, e.attempt < e.maxAttempts, let sig = facts.signature, e.failure?.signature == sig,
           t.plan?.workload.retryIdenticalFailures != true {
            return finish(t, .failed, cause: triage.cause,
                          message: "\(triage.message). Failed the same way twice (attempt \(e.attempt) as the one before it): not retrying; fix the cause, or set spec.retryIdenticalFailures: true to use every attempt",
                          actor: .lifecycle, now: now, endedAt: until, exitCode: exit.exitCode, first: stopGang, failure: facts)
        }
        // A lost cluster is not the workload's failure: it is placed again at once, whatever attempts it has left.
        let clusterLost = exit.reason == .clusterLost
        guard clusterLost || (triage.retryable && e.attempt < e.maxAttempts) else {
            return finish(t, .failed, cause: triage.cause, message: triage.message, actor: .lifecycle, now: now, endedAt: until,
                          exitCode: exit.exitCode, first: stopGang, failure: facts)
        }
        let delay = clusterLost ? 0 : backoff(afterAttempt: e.attempt)
        var n = requeue(e, plan: t.plan, now: now, until: until)
        n.failure = facts
        n.cause = triage.cause
        n.exitCode = exit.exitCode
        n.notBefore = now.addingTimeInterval(delay)
        n.message = "attempt \(e.attempt) of \(e.maxAttempts) failed (\(triage.cause): \(triage.message)); retrying in \(Int(delay))s"
        if clusterLost {
            // Like a preemption, it does not use up an attempt.
            n.maxAttempts += 1
            n.message = "attempt \(e.attempt): \(triage.message); back in the queue at once, from its last checkpoint"
        }
        return record(&t, n, "retry", .lifecycle, now, detail: triage.cause, then: stopGang, usedUntil: until)
    }

    /// How a failed pod looked: its exit and the last lines of its log, with runs of digits blanked (times, pids and
    /// addresses differ between two runs of the same failure; the exception and where it was raised do not). A pod that
    /// printed nothing has no signature: nothing says its failures are the same.
    static func signature(of exit: PodExit) -> String {
        let lines = exit.lastLines.suffix(5).map { line -> String in
            var out = ""
            var inDigits = false
            for c in line.unicodeScalars {
                if ("0"..."9").contains(c) {
                    if !inDigits { out += "#" }
                    inDigits = true
                } else {
                    out.unicodeScalars.append(c)
                    inDigits = false
                }
            }
            return out.trimmingCharacters(in: .whitespaces)
        }
        return "\(exit.exitCode.map(String.init) ?? "-")/\(exit.signal.map(String.init) ?? "-")/" + lines.joined(separator: "\n")
    }

    /// Seconds to wait before the attempt after `attempt`: 1, 2, 4, ... up to `maxBackoff`.
    public func backoff(afterAttempt attempt: Int) -> Double {
        min(maxBackoff, pow(2.0, Double(max(0, min(attempt - 1, 62)))))
    }

    /// Back to the queue, its capacity given back (preemption or retry).
    func requeue(_ e: WorkloadEntry, plan: WorkloadPlan?, now: Date, until: Date? = nil) -> WorkloadEntry {
        var n = e
        accrue(&n, plan: plan, until: until ?? now, keepOpen: false)
        n.state = .queued
        n.placements = []
        n.charged = nil
        n.updatedAt = now
        n.podCount = plan?.workload.podCount ?? e.podCount
        return n
    }

    /// It ended for good.
    /// `endedAt`: when its pods ended by the backend's record (usage stops there), if not now.
    func finish(_ t0: TrackedWorkload, _ state: WorkloadState, cause: String?, message: String, actor: AuditActor, now: Date, endedAt: Date? = nil,
                exitCode: Int? = nil, stopAttempt: Bool = false, first: [WorkloadEffect] = [], failure: FailureFacts? = nil) -> Step {
        var t = t0
        let e = t.entry
        var n = e
        let ended = e.state.holdsCapacity ? (endedAt ?? now) : now
        if e.state.holdsCapacity { accrue(&n, plan: t.plan, until: ended, keepOpen: false) }
        n.state = state
        n.cause = cause
        n.message = message
        n.exitCode = exitCode ?? e.exitCode
        if let failure { n.failure = failure }
        n.finishedAt = ended
        n.updatedAt = now
        n.placements = []
        n.charged = nil
        let action = switch state {
        case .succeeded: "succeed"
        case .failed: "fail"
        case .cancelled: "cancel"
        default: state.rawValue
        }
        var then = first
        if stopAttempt { then.append(.stop(attempt: e.attempt)) }
        then.append(.release)
        // What only a live workload needs goes with it: the plan, the pods that ended, the wait for the backend.
        t.accepting = false
        t.plan = nil
        t.endedPods = []
        t.lastPodEnd = nil
        return record(&t, n, action, actor, now, detail: cause.map { "\($0): \(message)" } ?? message, then: then,
                      usedUntil: ended == now ? nil : ended)
    }

    /// The new entry, persisted with its audit record and published as a transition, then `then`.
    /// `usedUntil`: where the usage it accounts ended, when not now.
    func record(_ t: inout TrackedWorkload, _ n: WorkloadEntry, _ action: String, _ actor: AuditActor, _ now: Date, detail: String,
                then: [WorkloadEffect] = [], usedUntil: Date? = nil) -> Step {
        let before = t.entry
        t.entry = n
        var transition = Transition(action, before: before, after: n, at: now).about(t.plan)
        if transition.usageSince != nil, let usedUntil, usedUntil != now { transition.usageUntil = usedUntil }
        return (t, [.persist(AuditDraft(time: now, actor: actor, action: action, object: Self.object(n), before: before.digest,
                                        after: n.digest, detail: detail)),
                    .emit(transition)] + then)
    }

    /// Adds the GPU- and CPU-seconds the attempt used since it was last accounted (from its admission) up to `now`.
    /// `keepOpen`: the attempt goes on, so the next accounting starts from `now`.
    func accrue(_ e: inout WorkloadEntry, plan: WorkloadPlan?, until now: Date, keepOpen: Bool) {
        guard e.state.holdsCapacity, let start = e.accountedUntil ?? e.startedAt ?? e.admittedAt else {
            e.accountedUntil = nil
            return
        }
        if let plan {
            let seconds = max(0, now.timeIntervalSince(start))
            e.gpuSeconds += seconds * Double(plan.size.gpus.thousandths) / 1000 * Double(e.podCount)
            e.cpuSeconds += seconds * Double(plan.size.cpu.millis) / 1000 * Double(e.podCount)
            e.memoryGiBSeconds = (e.memoryGiBSeconds ?? 0) + seconds * Double(plan.size.memory.bytes) / Double(1 << 30) * Double(e.podCount)
        }
        e.accountedUntil = keepOpen ? now : nil
    }

    static func deadlineMessage(limit: TimeSpan, ran: Double, attempt: Int) -> String {
        "it ran \(TimeSpan(seconds: Int64(ran))) of attempt \(attempt), past its maxDuration of \(limit), and was stopped; raise spec.maxDuration (up to what the environment allows) or checkpoint and resume"
    }

    func identity(_ e: WorkloadEntry) -> String { e.spiffeID(trustDomain: trustDomain) }

    static func object(_ e: WorkloadEntry) -> String { "workload/\(e.id)" }
    /// `2026-12-07T10:40:00Z`.
    static func clockTime(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
    static func pods(_ n: Int) -> String { "\(n) pod\(n == 1 ? "" : "s")" }
}

extension Charge {
    /// The charge of `count` pods out of `total` equal ones.
    func scaled(_ count: Int, of total: Int) -> Charge {
        guard total > 0 else { return self }
        let f = { (v: Int64) in v / Int64(total) * Int64(count) }
        return Charge(cpuMilli: f(cpuMilli), memoryMiB: f(memoryMiB), gpuMilli: gpuMilli.mapValues(f))
    }
}
