import ServiceLifecycle
import TarmacDelivery

/// Keeps a `TrafficRouter` (HTTPRoutes on Kubernetes) in step with the traffic plan: every `every`, the split of each
/// service as the control plane and the rollouts say (`TrafficPlan`) is handed to the router, which applies what changed.
public struct TrafficSync: Service {
    let router: any TrafficRouter
    let every: Duration
    let plan: @Sendable () async -> [ServiceTraffic]

    public init(router: any TrafficRouter, every: Duration = .milliseconds(250), plan: @escaping @Sendable () async -> [ServiceTraffic]) {
        self.router = router
        self.every = every
        self.plan = plan
    }

    /// One pass: what the plan says now, put in force.
    public func sync() async { await router.route(await plan()) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sync()
                try? await Task.sleep(for: every)
            }
        }
    }
}
