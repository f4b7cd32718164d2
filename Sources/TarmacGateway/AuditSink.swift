import Logging
import ServiceLifecycle
import Synchronization
import TarmacRuntime

/// The gateway's audit records on their way to the store: each call adds its record without waiting, and one writer
/// appends whatever has gathered in one transaction (the store's group commit), again and again. A record reaches the
/// store within one such write (milliseconds); on a graceful shutdown the writer drains what is left before it stops.
public final class AuditSink: Service, Sendable {
    private let pending = Mutex<[AuditDraft]>([])
    private let signal: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    let store: any Store
    let logger: Logger

    public init(store: any Store, logger: Logger) {
        self.store = store
        self.logger = logger
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(_ d: AuditDraft) {
        pending.withLock { $0.append(d) }
        signal.yield()
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.signals { await self.flush() }
        }
        signal.finish()
        await flush()
    }

    func flush() async {
        let batch = pending.withLock { p -> [AuditDraft] in
            defer { p.removeAll(keepingCapacity: true) }
            return p
        }
        guard !batch.isEmpty else { return }
        do { try await store.appendAudit(batch) } catch {
            logger.error("could not audit tool calls", metadata: ["records": "\(batch.count)", "error": "\(error)"])
        }
    }
}
