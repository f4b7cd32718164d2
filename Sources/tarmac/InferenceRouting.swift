import TarmacDelivery
import TarmacGateway

/// The inference gateway's routes from the traffic plan (`TrafficPlan`): one route per team and service name, each
/// version with its share and the replicas the backend reports.
enum InferenceRouting {
    static func routes(_ services: [ServiceTraffic]) -> [InferenceRoute] {
        services.map { t in
            InferenceRoute(team: t.team, service: t.service, versions: t.backends.map { b in
                InferenceRoute.Version(model: b.model, version: b.version, weight: b.weight, replicas: b.endpoints.compactMap(InferenceRoute.Replica.init(url:)),
                                       workload: b.workload)
            })
        }
    }
}
