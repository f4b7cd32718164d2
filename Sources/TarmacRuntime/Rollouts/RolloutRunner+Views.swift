import Foundation
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacModel

extension RolloutRunner {
    /// The spec a request asks for, or every problem with it.
    public static func spec(_ r: RolloutRequest) throws -> RolloutSpec {
        var problems: [String] = []
        var rules: [AnalysisRule] = []
        for b in r.rules ?? [] {
            guard let m = AnalysisRule.Metric(rawValue: b.metric) else {
                problems.append("unknown metric '\(b.metric)'" + Suggestions.hint(for: b.metric, in: ["successRate", "p99LatencyMs", "timeToFirstTokenMs"], noun: "metrics"))
                continue
            }
            rules.append(AnalysisRule(m, b.threshold, minRequests: b.minRequests ?? 50))
        }
        let strategy: RolloutSpec.Strategy
        switch r.strategy ?? "canary" {
        case "blueGreen":
            if !(r.steps ?? []).isEmpty { problems.append("a blue-green rollout has no steps (its analysis runs before the switch, on preview requests)") }
            if let p = r.previewSeconds, p < 1 { problems.append("previewSeconds is at least 1") }
            strategy = .blueGreen
        case "canary":
            var steps: [RolloutSpec.CanaryStep] = []
            for t in r.steps ?? ["10", "analysis 60s", "50", "analysis 60s"] {
                switch RolloutSpec.CanaryStep.parse(t) {
                case .success(let s): steps.append(s)
                case .failure(let p): problems.append(p.description)
                }
            }
            strategy = .canary(steps: steps)
            if r.previewSeconds != nil { problems.append("previewSeconds is for blue-green rollouts (a canary measures at its analysis steps)") }
        case let other:
            problems.append("strategy '\(other)' is neither canary nor blueGreen")
            strategy = .blueGreen
        }
        let spec = RolloutSpec(strategy: strategy, rules: rules, rollbackWindow: r.rollbackWindowSeconds ?? 3600, previewSeconds: r.previewSeconds)
        if problems.isEmpty, let p = specProblem(spec) { problems.append(p) }
        guard problems.isEmpty else { throw RuntimeError(.invalid, problems.joined(separator: "; ")) }
        return spec
    }

    public func view(_ a: Active) async -> RolloutView {
        var steps: [String] = []
        var strategy = "blueGreen"
        if case .canary(let s) = a.spec.strategy {
            strategy = "canary"
            steps = s.map(\.text)
        }
        var phase = "starting", message = "\(a.next.model) is starting (\(a.next.workload))"
        var warmUntil: Date?, previousWarm: Bool?
        if let f = a.failure { (phase, message) = ("failed", f) }
        if let r = a.rollout {
            switch r.phase {
            case .paused(let step, let until):
                phase = "paused"
                message = until == nil ? "at step \(step + 1), until promoted (tarmac rollout promote \(a.service))" : "at step \(step + 1)"
            case .analyzing(let step, let since):
                phase = "analyzing"
                message = "step \(step + 1): measuring \(a.next.model) since \(ISO8601DateFormatter().string(from: since))"
            case .promoted(_, let until):
                phase = "promoted"
                warmUntil = until
                let live = await isLive(a.previous.workload)
                previousWarm = !r.previousRetired && live
                message = "\(a.next.model) takes every request; \(a.previous.model) is \(previousWarm == true ? "warm until \(ISO8601DateFormatter().string(from: until))" : "retired")"
            case .rolledBack(_, let reason): (phase, message) = ("rolledBack", reason)
            case .aborted(_, let by): (phase, message) = ("aborted", "aborted by \(by)")
            }
        }
        return RolloutView(team: a.team, service: a.service, env: a.env, strategy: strategy, steps: steps, from: a.previous.model.description,
                           to: a.next.model.description, fromWorkload: a.previous.workload, toWorkload: a.next.workload, phase: phase, message: message,
                           weights: a.weights, startedBy: a.startedBy, startedAt: a.startedAt, warmUntil: warmUntil, previousWarm: previousWarm,
                           coldStartSeconds: a.coldStartSeconds)
    }
}
