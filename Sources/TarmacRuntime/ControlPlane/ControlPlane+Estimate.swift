import TarmacCore
import Foundation
import TarmacAPI
import TarmacEngine
import TarmacPlanning
import TarmacModel
import TarmacContract

/// When queued work would start: the engine's `StartEstimator` run from the control plane's current state. One
/// computation for `why`, `POST /v1/workloads/check` and the portal.
extension ControlPlane {
    /// What the estimate takes for granted, said with every answer.
    static func estimateAssumptions(unknownEnds: Int) -> [String] {
        var out = [
            "each running job ends at its maxDuration deadline, and each job ahead of it runs for its maxDuration",
            "nothing else is submitted, cancelled or fails meanwhile, and the nodes and quotas stay as they are",
        ]
        if unknownEnds > 0 {
            out.append("\(unknownEnds) workload\(unknownEnds == 1 ? "" : "s") with no known end (services, jobs without maxDuration) keep\(unknownEnds == 1 ? "s" : "") \(unknownEnds == 1 ? "its" : "their") room")
        }
        return out
    }

    /// The inputs of the estimator as of now: the running work with its ends, the queue with its run times.
    func estimatorInputs() -> (running: [StartEstimator.Running], waiting: [StartEstimator.Waiting]) {
        if views.stale { rebuildEngineViews() }
        var running: [StartEstimator.Running] = []
        for (id, r) in views.running {
            var end: Int64?
            if let t = tracked[id], let limit = t.plan?.workload.maxDuration, let since = t.entry.startedAt ?? t.entry.admittedAt {
                end = Self.millis(since) + limit.seconds * 1000
            }
            running.append(.init(r, end: end))
        }
        var waiting: [StartEstimator.Waiting] = []
        for (id, p) in views.pending.sorted(by: { $0.key < $1.key }) {
            let limit = tracked[id]?.plan?.workload.maxDuration
            waiting.append(.init(p.workload, duration: limit.map { $0.seconds * 1000 }))
        }
        return (running, waiting)
    }

    /// Runs the estimator for `target` (already among `waiting`) from `now` (ms; one reading of the clock, so that a
    /// start "now" is recognised as such by the caller however long the run took).
    func estimate(target: String, running: [StartEstimator.Running], waiting: [StartEstimator.Waiting], now: Int64) -> (StartEstimator.Estimate, StartEstimateView) {
        let e = StartEstimator(scheduler: scheduler).estimate(target: target, now: now, cluster: engine.cluster, running: running, waiting: waiting,
                                                               quotas: quotasWithHolds, policy: policy, rng: rng)
        return (e, estimateView(e, now: now))
    }

    /// An estimate in words, with its assumptions.
    func estimateView(_ e: StartEstimator.Estimate, now nowMs: Int64) -> StartEstimateView {
        let assumptions = Self.estimateAssumptions(unknownEnds: e.unknownEnds)
        guard let start = e.start else {
            let why = e.stopped == "cycles"
                ? "no estimate: more than \(StartEstimator().maxCycles) scheduling decisions ahead of it"
                : "no estimate: the room it needs is held by work with no known end (services, jobs without maxDuration)"
            return StartEstimateView(at: nil, inSeconds: nil, message: why, assumptions: assumptions)
        }
        let seconds = max(0, (start - nowMs + 999) / 1000)
        let at = Date(timeIntervalSince1970: Double(start) / 1000)
        let when = seconds == 0 ? "at the next scheduling cycle"
            : "in \(TimeSpan(seconds: seconds)), at \(ISO8601DateFormatter().string(from: at))"
        let ahead = e.admittedBefore == 0 ? "" : " after \(e.admittedBefore) workload\(e.admittedBefore == 1 ? "" : "s") ahead of it"
        return StartEstimateView(at: at, inSeconds: seconds, message: "estimated start \(when)\(ahead)", assumptions: assumptions)
    }

    /// Every queued workload's start, from one run forward, kept until the engine's views (or a budget hold) change:
    /// a page of `why`s costs one run, not one each. The starts are times, so they stay true as the clock moves while
    /// nothing changes.
    func forecast() -> StartEstimator.Forecast {
        if views.stale { rebuildEngineViews() }
        let holds = budgets.holds.keys.sorted()
        if let f = views.forecast, f.generation == views.generation, f.holds == holds { return f.forecast }
        let (running, waiting) = estimatorInputs()
        let f = StartEstimator(scheduler: scheduler).forecast(now: Self.millis(clock.now), cluster: engine.cluster, running: running, waiting: waiting,
                                                              quotas: quotasWithHolds, policy: policy, rng: rng)
        views.forecast = (views.generation, holds, f)
        return f
    }

    /// When a queued workload would start (nil for one that is not waiting on the scheduler).
    func estimatedStart(of id: String) -> StartEstimateView? {
        guard let t = tracked[id], t.entry.state == .queued, t.entry.scaledToZeroAt == nil else { return nil }
        if views.stale { rebuildEngineViews() }
        guard views.pending[id] != nil else { return nil }
        return estimateView(forecast().estimate(id), now: Self.millis(clock.now))
    }

    /// Whether a prepared document would start now, wait (for what, and until when), or never start here.
    func feasibility(_ p: PreparedSubmit) -> FeasibilityView {
        let w = p.workload
        if let never = neverStarts(p.plan, pods: w.podCount, team: w.metadata.team) {
            if backend.inventoryCanGrow { return FeasibilityView(verdict: "waits", message: never + "; it waits until nodes that can host it join", reason: "shape") }
            let why = never.hasPrefix("cannot start here: ") ? String(never.dropFirst("cannot start here: ".count)) : never
            return FeasibilityView(verdict: "neverFits", message: "never fits here: " + why)
        }
        let now = clock.now
        let id = "check-" + Identifier.make("wl")
        let candidate = TrackedWorkload(entry: WorkloadEntry(id: id, name: w.metadata.name, team: w.metadata.team, env: w.metadata.env,
                                                              kind: w.kind.rawValue, owner: w.metadata.owner, submittedBy: "", requestID: nil,
                                                              size: w.size, podCount: w.podCount, priority: p.plan.priority, source: "",
                                                              maxAttempts: p.plan.maxAttempts, now: now),
                                        plan: p.plan)
        var (running, waiting) = estimatorInputs()
        waiting.append(.init(pendingWorkload(candidate, plan: p.plan), duration: w.maxDuration.map { $0.seconds * 1000 }))
        let nowMs = Self.millis(now)
        let (e, view) = estimate(target: id, running: running, waiting: waiting, now: nowMs)
        if let start = e.start, start <= nowMs {
            return FeasibilityView(verdict: "fitsNow", message: "fits now: it would start at the next scheduling cycle", estimatedStart: view)
        }
        let reason = e.firstWait
        let what = reason.map { "waits for " + engine.explain($0, team: w.metadata.team) } ?? "waits: the room it needs is taken now"
        return FeasibilityView(verdict: "waits", message: what, reason: reason?.kind, estimatedStart: view)
    }

    /// What a submit of `text` would say, without queueing it: every diagnostic, and whether and when it would start.
    public nonisolated func check(text: String, by principal: Principal, runsImages: Bool, workdir: String? = nil) async throws -> SubmitCheckView {
        try Access.require(principal, .submit)
        var prepared: PreparedSubmit
        do {
            prepared = try prepare(text: text, by: principal, runsImages: runsImages, workdir: workdir)
            prepared.refusals += try await promotionRefusals(prepared, by: principal)
        } catch let e as RuntimeError where e.code == .invalid && !e.diagnostics.isEmpty {
            return SubmitCheckView(valid: false, diagnostics: e.diagnostics)
        }
        return await checked(prepared)
    }

    func checked(_ p: PreparedSubmit) -> SubmitCheckView {
        var diagnostics = p.warnings
        let errors = p.refusals.normalized().map(Self.payload)
        let w = p.workload
        let key = WorkloadTable.nameKey(team: w.metadata.team, env: w.metadata.env, kind: w.kind.rawValue, name: w.metadata.name)
        var conflict: [DiagnosticPayload] = []
        if reservedNames.contains(key) || tracked.activeNames[key] != nil {
            conflict.append(Self.payload(Diagnostic(.error, at: w.origin.at("metadata.name") ?? w.origin.location,
                                                    "\(w.kind.rawValue) \(w.metadata.name) of team \(w.metadata.team) in \(w.metadata.env) is already queued or running",
                                                    rule: "name-taken", help: "cancel it first or choose another name")))
        }
        diagnostics = errors + conflict + diagnostics
        let feasibility = errors.isEmpty ? feasibility(p) : nil
        return SubmitCheckView(valid: errors.isEmpty && conflict.isEmpty && feasibility?.verdict != "neverFits", diagnostics: diagnostics, feasibility: feasibility)
    }
}
