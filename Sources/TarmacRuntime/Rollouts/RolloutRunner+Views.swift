import Foundation
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacModel

extension RolloutRunner {
    /// The spec a request asks for, or every problem with it.
    public static func spec(_ r: RolloutRequest) throws -> RolloutSpec {
        let draft = RolloutSpec.Draft(strategy: r.strategy, steps: r.steps,
                                      rules: (r.rules ?? []).map { .init(metric: $0.metric, threshold: $0.threshold, minRequests: $0.minRequests) },
                                      rollbackWindowSeconds: r.rollbackWindowSeconds, previewSeconds: r.previewSeconds)
        switch RolloutSpec.read(draft, unknownMetric: { "unknown metric '\($0)'" + Suggestions.hint(for: $0, in: RolloutSpec.metricNames, noun: "metrics") }) {
        case .success(let spec): return spec
        case .failure(let problems): throw RuntimeError(.invalid, problems.items.map(\.message).joined(separator: "; "))
        }
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
