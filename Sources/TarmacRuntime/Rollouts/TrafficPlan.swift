import TarmacDelivery

/// Which versions serve each service and by what share, from what the control plane runs: a service with a rollout is
/// split between its two versions by the rollout's shares; any other goes to the model its running InferenceService
/// serves, at 100%. One entry per team and service name: when the same name runs in several environments, the first
/// environment by name is routed (the others are reached at their replicas directly).
public enum TrafficPlan {
    public static func services(_ served: [ServedService], rollouts: [ServiceTraffic] = []) -> [ServiceTraffic] {
        var byKey: [String: ServiceTraffic] = [:]
        let byWorkload = Dictionary(served.map { ($0.workload, $0) }, uniquingKeysWith: { a, _ in a })
        for r in rollouts {
            var t = r
            for i in t.backends.indices { t.backends[i].endpoints = byWorkload[t.backends[i].workload]?.endpoints ?? [] }
            byKey[t.key] = t
        }
        for s in served.sorted(by: { ($0.env, $0.workload) < ($1.env, $1.workload) }) {
            let key = "\(s.team)/\(s.name)"
            guard byKey[key] == nil else { continue }
            // A version a rollout started is routed through its service only (it is not a service of its own).
            guard !rollouts.contains(where: { $0.team == s.team && $0.backends.contains { $0.workload == s.workload } }) else { continue }
            byKey[key] = ServiceTraffic(team: s.team, env: s.env, service: s.name, backends: [
                ServiceTraffic.Backend(workload: s.workload, name: s.name, model: s.model.name, version: s.model.version, weight: 100, endpoints: s.endpoints),
            ])
        }
        return byKey.values.sorted { $0.key < $1.key }
    }
}
