import Foundation

/// A rollout in progress or ended: which versions take traffic and in what shares, and where it stands.
public struct Rollout: Sendable, Hashable, Codable {
    public enum Phase: Sendable, Hashable, Codable {
        /// At step `step` of the canary (blue-green: 0).
        case paused(step: Int, until: Date?)
        case analyzing(step: Int, since: Date)
        /// Every request on the new version; the previous one stays warm until `warmUntil`.
        case promoted(at: Date, warmUntil: Date)
        /// Every request back on the previous version.
        case rolledBack(at: Date, reason: String)
        case aborted(at: Date, by: String)
    }

    /// The version that served before the rollout, and the new one.
    public var previous: String
    public var next: String
    /// Percent of requests on `next` (the rest on `previous`).
    public var weight: Int
    public var phase: Phase
    /// After a promotion: the previous version's replicas were let go (its rollback window closed).
    public var previousRetired = false

    public init(previous: String, next: String, weight: Int, phase: Phase) {
        self.previous = previous
        self.next = next
        self.weight = weight
        self.phase = phase
    }

    public var isOver: Bool {
        switch phase {
        case .promoted, .rolledBack, .aborted: true
        case .paused, .analyzing: false
        }
    }
}

/// What the rollout's runner does, in order: route traffic, start measuring, record a step in the audit trail, keep or
/// let go of the previous version's replicas.
public enum RolloutEffect: Sendable, Hashable {
    /// Shares of requests by version, summing to 100.
    case route([String: Int])
    case measure(seconds: Int64)
    /// An audit record: the action (`rollout-step`, `rollout-promote`, `rollout-rollback`, `rollout-abort`) and what
    /// decided it, with the figures.
    case record(action: String, detail: String)
    case keepWarm(version: String, until: Date)
    case retire(version: String)
}

public enum RolloutEvent: Sendable, Hashable {
    /// Time passed (pauses end; the runner sends it on its clock).
    case tick
    /// The measurement of the window the last `measure` asked for.
    case measured(Measurement)
    /// A person promotes: the rest of the steps are skipped.
    case promote(by: String)
    /// A person stops the rollout: every request back on the previous version.
    case abort(by: String)
    /// After a promotion, one step back to the previous version (warm: a routing change; cold: it must start again).
    case rollback(by: String)
}

/// The rollout lifecycle as a pure function, like the workload machine: `(rollout, event, now) -> (rollout', effects)`.
/// It reads no clock and does no I/O; the runner routes, measures and records what it says.
public struct RolloutMachine: Sendable {
    public var spec: RolloutSpec

    public init(spec: RolloutSpec) { self.spec = spec }

    public typealias Step = (rollout: Rollout, effects: [RolloutEffect])

    /// Starts moving from `previous` to `next`.
    public func start(previous: String, next: String, by who: String, now: Date) -> Step {
        let r = Rollout(previous: previous, next: next, weight: 0, phase: .paused(step: 0, until: now))
        var effects: [RolloutEffect] = [.record(action: "rollout-start", detail: "\(previous) -> \(next) by \(who)")]
        switch spec.strategy {
        case .blueGreen:
            effects.append(.route([previous: 100, next: 0]))
            guard !spec.rules.isEmpty else {
                return (Rollout(previous: previous, next: next, weight: 0, phase: .paused(step: 0, until: nil)), effects)
            }
            effects.append(.measure(seconds: spec.previewSeconds ?? Self.blueGreenWindow))
            return (Rollout(previous: previous, next: next, weight: 0, phase: .analyzing(step: 0, since: now)), effects)
        case .canary:
            let (after, more) = run(from: 0, r, now: now)
            return (after, effects + more)
        }
    }

    /// The analysis window of a blue-green rollout's new version before the switch.
    public static let blueGreenWindow: Int64 = 300

    public func step(_ r: Rollout, _ event: RolloutEvent, now: Date) -> Step {
        switch (r.phase, event) {
        case (.paused(let step, let until?), .tick) where now >= until:
            return run(from: step + 1, r, now: now)
        case (.analyzing(let step, _), .measured(let m)):
            let failed = m.failures(of: spec.rules)
            if !failed.isEmpty { return rollBack(r, reason: "analysis failed: " + failed.joined(separator: "; "), now: now) }
            if let low = spec.rules.map(\.minRequests).max(), m.requests < low {
                // Too few requests for a verdict: the window starts again.
                return (Rollout(previous: r.previous, next: r.next, weight: r.weight, phase: .analyzing(step: step, since: now)),
                        [.record(action: "rollout-step", detail: "analysis inconclusive: \(m.requests) requests, \(low) needed; measuring again"),
                         .measure(seconds: window(at: step))])
            }
            var next = r
            next.phase = .paused(step: step, until: now)
            let (after, effects) = isBlueGreen ? promote(r, by: "analysis", now: now) : run(from: step + 1, next, now: now)
            return (after, [.record(action: "rollout-step", detail: "analysis passed: \(spec.rules.map(\.description).joined(separator: ", "))")] + effects)
        case (.paused, .promote(let who)), (.analyzing, .promote(let who)):
            return promote(r, by: who, now: now)
        case (.paused, .abort(let who)), (.analyzing, .abort(let who)):
            var a = r
            a.weight = 0
            a.phase = .aborted(at: now, by: who)
            return (a, [.route([r.previous: 100, r.next: 0]), .record(action: "rollout-abort", detail: "by \(who) at \(r.weight)% on \(r.next)"),
                        .retire(version: r.next)])
        case (.promoted(_, let warmUntil), .rollback(let who)):
            let warm = now < warmUntil && !r.previousRetired
            var b = r
            b.weight = 0
            b.phase = .rolledBack(at: now, reason: "rolled back by \(who)")
            return (b, [.route([r.previous: 100, r.next: 0]),
                        .record(action: "rollout-rollback", detail: "by \(who) to \(r.previous) (\(warm ? "warm" : "cold: it starts again"))"),
                        .retire(version: r.next)])
        case (.promoted(_, let warmUntil), .tick) where now >= warmUntil && !r.previousRetired:
            // The rollback window closed: the previous version lets go of its replicas (once).
            var p = r
            p.previousRetired = true
            return (p, [.retire(version: r.previous), .record(action: "rollout-step", detail: "rollback window closed: \(r.previous) retired")])
        default:
            return (r, [])
        }
    }

    var isBlueGreen: Bool { if case .blueGreen = spec.strategy { true } else { false } }

    func window(at step: Int) -> Int64 {
        guard case .canary(let steps) = spec.strategy, steps.indices.contains(step), case .analysis(let s) = steps[step] else {
            return spec.previewSeconds ?? Self.blueGreenWindow
        }
        return s
    }

    /// Runs canary steps from `index` until one waits (a pause, an analysis) or none is left (then it is promoted).
    func run(from index: Int, _ r: Rollout, now: Date) -> Step {
        guard case .canary(let steps) = spec.strategy else { return (r, []) }
        var r = r
        var effects: [RolloutEffect] = []
        var i = index
        while i < steps.count {
            switch steps[i] {
            case .setWeight(let w):
                r.weight = max(0, min(100, w))
                effects += [.route([r.previous: 100 - r.weight, r.next: r.weight]), .record(action: "rollout-step", detail: "step \(i + 1): \(r.weight)% on \(r.next)")]
            case .pause(let seconds):
                r.phase = .paused(step: i, until: seconds.map { now.addingTimeInterval(Double($0)) })
                return (r, effects)
            case .analysis(let seconds):
                r.phase = .analyzing(step: i, since: now)
                return (r, effects + [.measure(seconds: seconds)])
            }
            i += 1
        }
        let (p, more) = promote(r, by: "every step passed", now: now)
        return (p, effects + more)
    }

    func promote(_ r: Rollout, by who: String, now: Date) -> Step {
        var p = r
        p.weight = 100
        let warmUntil = now.addingTimeInterval(Double(spec.rollbackWindow))
        p.phase = .promoted(at: now, warmUntil: warmUntil)
        return (p, [.route([r.previous: 0, r.next: 100]), .record(action: "rollout-promote", detail: "\(r.next) takes every request (\(who))"),
                    .keepWarm(version: r.previous, until: warmUntil)])
    }

    func rollBack(_ r: Rollout, reason: String, now: Date) -> Step {
        var b = r
        b.weight = 0
        b.phase = .rolledBack(at: now, reason: reason)
        return (b, [.route([r.previous: 100, r.next: 0]), .record(action: "rollout-rollback", detail: reason), .retire(version: r.next)])
    }
}
