import ServiceLifecycle

/// The lifecycle loop as a service: it starts with the server and stops on graceful shutdown (SIGTERM/SIGINT), leaving
/// running pods to be recovered by the next start.
public struct LifecycleService: Service {
    let controlPlane: ControlPlane

    public init(_ controlPlane: ControlPlane) { self.controlPlane = controlPlane }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await controlPlane.run()
        }
    }
}
