import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Keeps the inference gateway's routes in step with what runs: every `every`, the routes `source` gives (services,
/// versions, weights, replicas), with the replicas that accept a TCP connection now (a replica still loading its model
/// takes no request).
public struct InferenceRouteRefresher: Service {
    let routes: InferenceRoutes
    let source: @Sendable () async -> [InferenceRoute]
    let every: Duration
    let logger: Logger

    public init(routes: InferenceRoutes, every: Duration = .milliseconds(250), logger: Logger, source: @escaping @Sendable () async -> [InferenceRoute]) {
        self.routes = routes
        self.source = source
        self.every = every
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await refresh()
                try? await Task.sleep(for: every)
            }
        }
    }

    /// One refresh (also what tests call).
    public func refresh() async {
        var next: [InferenceRoute] = []
        for var r in await source() {
            for i in r.versions.indices {
                var ready: [InferenceRoute.Replica] = []
                for replica in r.versions[i].replicas where await Self.accepts(replica) { ready.append(replica) }
                r.versions[i].replicas = ready
            }
            next.append(r)
        }
        routes.replace(next)
    }

    /// Whether the replica accepts a connection within half a second.
    public static func accepts(_ r: InferenceRoute.Replica) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(500))
                .connect(host: r.host, port: r.port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
