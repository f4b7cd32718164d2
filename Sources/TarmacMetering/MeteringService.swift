import Foundation
import Synchronization
import Logging
import Metrics
import ServiceLifecycle
import TarmacCore

/// The first subscriber of the transition stream: it turns transitions into the usage metrics of `/metrics`
/// (`tarmac_gpu_seconds_total`, `tarmac_cpu_seconds_total`, `tarmac_admissions_total`, `tarmac_preemptions_total`,
/// `tarmac_completions_total`), so the control plane itself counts nothing; and, with a store, keeps the durable ledger:
/// it reads the stored transitions after the ledger's cursor (the store is the source of truth, gapless) and applies
/// them with the cursor in one transaction, at start (what ran while it was down) and then whenever transitions come
/// (at most every `every`).
public struct MeteringService: Service {
    let stream: AsyncStream<Transition>
    let store: (any UsageStore & WorkloadStore)?
    let every: Duration
    let logger: Logger

    /// Subscribes at once, so no transition after this point is missed, even before `run()`.
    public init(_ transitions: TransitionStream, store: (any UsageStore & WorkloadStore)? = nil, every: Duration = .milliseconds(500),
                logger: Logger = Logger(label: "tarmac.metering")) {
        stream = transitions.subscribe()
        self.store = store
        self.every = every
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let wake = Wake()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var ledger = MeteringLedger()
                    for await t in stream {
                        Self.export(ledger.record(t))
                        wake.set()
                    }
                }
                if let store {
                    group.addTask {
                        while !Task.isCancelled {
                            if wake.take() { await Self.catchUp(store, logger: logger) }
                            try? await Task.sleep(for: every)
                        }
                        // A last pass on the way out: what was stored before shutdown is in the ledger.
                        await Self.catchUp(store, logger: logger)
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Applies every stored transition after the ledger's cursor, in batches; a failure is logged and retried on
    /// the next pass (the cursor did not move).
    @discardableResult
    public static func catchUp(_ store: any UsageStore & WorkloadStore, batch: Int = 2000, logger: Logger) async -> Int {
        var applied = 0
        do {
            var cursor = try await store.usageCursor()
            while true {
                let ts = try await store.transitions(after: cursor, limit: batch)
                guard let last = ts.last else { break }
                _ = try await store.applyUsage(UsageBatch(through: last.seq, rows: UsageLedger.rows(for: ts)))
                cursor = last.seq
                applied += ts.count
                if ts.count < batch { break }
            }
        } catch is CancellationError {
            // Shutting down: the next start catches up from the cursor.
        } catch {
            logger.warning("metering could not update the ledger; it tries again", metadata: ["error": "\(error)"])
        }
        return applied
    }

    static func export(_ e: MeteringLedger.Entry) {
        // Both series exist once a team has used anything (a CPU-only team shows 0 GPU-seconds, not no series).
        if e.gpuSeconds > 0 || e.cpuSeconds > 0 {
            FloatingPointCounter(label: "tarmac_gpu_seconds_total", dimensions: [("team", e.team)]).increment(by: e.gpuSeconds)
            FloatingPointCounter(label: "tarmac_cpu_seconds_total", dimensions: [("team", e.team)]).increment(by: e.cpuSeconds)
        }
        if e.admitted { Counter(label: "tarmac_admissions_total", dimensions: [("team", e.team)]).increment() }
        if e.preempted { Counter(label: "tarmac_preemptions_total", dimensions: [("team", e.team)]).increment() }
        if let state = e.completed { Counter(label: "tarmac_completions_total", dimensions: [("team", e.team), ("state", state)]).increment() }
    }
}

/// Whether transitions came since the ledger last looked (set from the stream, taken by the writer).
final class Wake: Sendable {
    private let flag = Mutex(true)
    func set() { flag.withLock { $0 = true } }
    func take() -> Bool { flag.withLock { f in defer { f = false }; return f } }
}
