import TarmacGateway
import TarmacRuntime

/// The inference gateway's routes from what the control plane runs: one route per team and service name. A service
/// with a rollout is routed to both of its versions by the rollout's shares; any other to the model its running
/// InferenceService serves, at 100%. When the same name runs in several environments, the first environment by name is
/// routed (the others are reached at their replicas directly).
enum InferenceRouting {
    static func routes(_ served: [ServedService], rollouts: [String: [(side: RolloutRunner.Side, weight: Int)]] = [:]) -> [InferenceRoute] {
        var byKey: [String: InferenceRoute] = [:]
        let byWorkload = Dictionary(served.map { ($0.workload, $0) }, uniquingKeysWith: { a, _ in a })
        for (key, sides) in rollouts {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let versions = sides.map { s in
                InferenceRoute.Version(model: s.side.model.name, version: s.side.model.version, weight: s.weight,
                                       replicas: (byWorkload[s.side.workload]?.endpoints ?? []).compactMap(InferenceRoute.Replica.init(url:)))
            }
            byKey[key] = InferenceRoute(team: parts[0], service: parts[1], versions: versions)
        }
        for s in served.sorted(by: { ($0.env, $0.workload) < ($1.env, $1.workload) }) {
            let key = "\(s.team)/\(s.name)"
            guard byKey[key] == nil else { continue }
            let version = InferenceRoute.Version(model: s.model.name, version: s.model.version, weight: 100,
                                                 replicas: s.endpoints.compactMap(InferenceRoute.Replica.init(url:)))
            byKey[key] = InferenceRoute(team: s.team, service: s.name, versions: [version])
        }
        return byKey.values.sorted { $0.key < $1.key }
    }
}
