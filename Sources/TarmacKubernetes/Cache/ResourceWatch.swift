import ServiceLifecycle

/// Keeps one resource of an `ObjectCache` current: lists and watches it until cancelled (or graceful shutdown),
/// handing each event to `deliver` (the cache's owner applies it), and starts again after a failure, reporting it to
/// `failed`. A Service: a backend runs one per resource; a second cluster runs its own.
public struct ResourceWatch: Service {
    public let resource: WatchedResource
    let listWatch: ListWatch
    let deliver: @Sendable (WatchEvent) async -> Void
    let failed: @Sendable (any Error) async -> Void

    public init(_ resource: WatchedResource, client: KubeClient, deliver: @escaping @Sendable (WatchEvent) async -> Void,
                failed: @escaping @Sendable (any Error) async -> Void) {
        self.resource = resource
        listWatch = ListWatch(client: client, path: resource.path, labelSelector: resource.labelSelector)
        self.deliver = deliver
        self.failed = failed
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await listWatch.run { event in await deliver(event) }
                    return
                } catch is CancellationError {
                    return
                } catch {
                    failures += 1
                    await failed(error)
                    try? await Task.sleep(for: listWatch.client.retry.delay(retry: failures, retryAfter: nil))
                }
            }
        }
    }
}
