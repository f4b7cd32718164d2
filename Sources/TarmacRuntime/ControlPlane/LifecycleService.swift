import TarmacCore
import Logging
import ServiceLifecycle

/// The lifecycle loop as a service: it starts with the server and stops on graceful shutdown (SIGTERM/SIGINT), leaving
/// running pods to be recovered by the next start.
///
/// With `recovery`, it also recovers the control plane's state, and only once the API's port is bound: a second
/// server that cannot have the port touches nothing. Until recovery is done (and what must follow it), the API waits
/// behind `recovery.recovered`.
public struct LifecycleService: Service {
    let controlPlane: ControlPlane
    let recovery: Recovery?

    /// When and how the control plane's state is recovered by the service.
    public struct Recovery: Sendable {
        /// Opened when the API's port is bound.
        public var portBound: ReadinessGate
        /// Opened when recovery and `then` are done.
        public var recovered: ReadinessGate
        /// What must follow recovery before the API serves (the credential authority adopting the live attempts).
        public var then: @Sendable () async throws -> Void

        public init(portBound: ReadinessGate, recovered: ReadinessGate, then: @escaping @Sendable () async throws -> Void = {}) {
            self.portBound = portBound
            self.recovered = recovered
            self.then = then
        }
    }

    public init(_ controlPlane: ControlPlane, recovery: Recovery? = nil) {
        self.controlPlane = controlPlane
        self.recovery = recovery
    }

    public func run() async throws {
        if let recovery {
            await cancelWhenGracefulShutdown { await recovery.portBound.wait() }
            guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
            let started = controlPlane.clock.elapsed
            try await controlPlane.start()
            try await recovery.then()
            recovery.recovered.open()
            Logger(label: "tarmac").info("state recovered; the API serves", metadata: ["seconds": "\(controlPlane.clock.since(started).seconds)"])
        }
        await cancelWhenGracefulShutdown {
            await controlPlane.run()
        }
    }
}

/// Runs a service once a gate opens (a service that needs the control plane's recovered state).
public struct AfterGate<Inner: Service>: Service {
    let gate: ReadinessGate
    let inner: Inner

    public init(_ gate: ReadinessGate, _ inner: Inner) {
        self.gate = gate
        self.inner = inner
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await gate.wait() }
        guard gate.isOpen, !Task.isCancelled else { return }
        try await inner.run()
    }
}
