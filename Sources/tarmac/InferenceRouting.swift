import TarmacGateway
import TarmacRuntime

/// The inference gateway's routes from what the control plane runs: one route per team and service name, its version
/// the model the running InferenceService serves, at 100%. When the same name runs in several environments, the first
/// environment by name is routed (the others are reached at their replicas directly).
enum InferenceRouting {
    static func routes(_ served: [ServedService]) -> [InferenceRoute] {
        var byKey: [String: InferenceRoute] = [:]
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
