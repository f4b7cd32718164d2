import ServiceLifecycle

/// Ticks the rollout runner: pauses end, measurements are taken, new versions that came up start their rollout.
public struct RolloutService: Service {
    let runner: RolloutRunner
    let every: Duration

    public init(runner: RolloutRunner, every: Duration = .milliseconds(200)) {
        self.runner = runner
        self.every = every
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await runner.tick()
                try? await Task.sleep(for: every)
            }
        }
    }
}
