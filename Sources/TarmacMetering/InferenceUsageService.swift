import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TarmacCore

/// What an inference service served, counted by the inference gateway: answers and tokens of one workload.
public struct ServedCounts: Sendable, Hashable {
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    public init(requests: Int64, promptTokens: Int64, completionTokens: Int64) {
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// A service attempt with a ready replica now, and when its pods started: its model load time is the difference
/// the first time it is seen ready.
public struct ReadyService: Sendable, Hashable {
    public var workload: String
    public var attempt: Int
    public var startedAt: Date?
    public init(workload: String, attempt: Int, startedAt: Date?) {
        self.workload = workload
        self.attempt = attempt
        self.startedAt = startedAt
    }
}

/// Turns what the inference gateway counted and the model loads seen into ledger rows of the day. Pure but for the
/// attempts it has seen loaded (each load is counted once).
public struct InferenceUsageTally: Sendable {
    var loaded: Set<String> = []

    public init() {}

    /// `describe` gives a workload's row attributes (name, team, user, model...; nil: unknown, its counts are dropped).
    public mutating func rows(counts: [String: ServedCounts], ready: [ReadyService], now: Date, describe: (String) -> UsageRow?) -> [UsageRow] {
        let day = UsageLedger.day(now.timeIntervalSince1970)
        var out: [String: UsageRow] = [:]
        func row(_ id: String) -> UsageRow? {
            if let r = out[id] { return r }
            guard var r = describe(id) else { return nil }
            r.day = day
            r.gpuSeconds = 0
            r.cpuSeconds = 0
            r.memoryGiBSeconds = 0
            return r
        }
        for (id, c) in counts {
            guard var r = row(id) else { continue }
            r.requests += c.requests
            r.promptTokens += c.promptTokens
            r.completionTokens += c.completionTokens
            out[id] = r
        }
        for s in ready {
            guard let started = s.startedAt, loaded.insert("\(s.workload)#\(s.attempt)").inserted, var r = row(s.workload) else { continue }
            r.modelLoadSeconds += max(0, now.timeIntervalSince(started))
            r.modelLoads += 1
            out[s.workload] = r
        }
        return out.values.sorted { $0.workload < $1.workload }
    }
}

/// Every `every`, drains the inference gateway's counts and looks at which service attempts answer, and adds them to
/// the ledger (`UsageStore.addInferenceUsage`). Rows that could not be stored are kept and tried again.
public final class InferenceUsageService: Service, Sendable {
    let store: any UsageStore
    let every: Duration
    let now: @Sendable () -> Date
    let drain: @Sendable () -> [String: ServedCounts]
    let ready: @Sendable () async -> [ReadyService]
    let describe: @Sendable ([String]) async -> [String: UsageRow]
    let logger: Logger
    private let state = Mutex<(tally: InferenceUsageTally, pending: [UsageRow])>((InferenceUsageTally(), []))

    public init(store: any UsageStore, every: Duration = .seconds(5), now: @escaping @Sendable () -> Date,
                drain: @escaping @Sendable () -> [String: ServedCounts], ready: @escaping @Sendable () async -> [ReadyService],
                describe: @escaping @Sendable ([String]) async -> [String: UsageRow], logger: Logger = Logger(label: "tarmac.metering")) {
        self.store = store
        self.every = every
        self.now = now
        self.drain = drain
        self.ready = ready
        self.describe = describe
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.flush()
                try? await Task.sleep(for: self.every)
            }
        }
        await flush()
    }

    /// One pass (also what tests call).
    public func flush() async {
        let counts = drain()
        let up = await ready()
        let known = await describe(Array(Set(counts.keys).union(up.map(\.workload))))
        let at = now()
        let rows = state.withLock { s in
            let fresh = s.tally.rows(counts: counts, ready: up, now: at) { known[$0] }
            defer { s.pending = [] }
            return s.pending + fresh
        }
        guard !rows.isEmpty else { return }
        do {
            try await store.addInferenceUsage(rows)
        } catch {
            logger.warning("could not add inference usage to the ledger; trying again", metadata: ["error": "\(error)", "rows": "\(rows.count)"])
            state.withLock { $0.pending = rows + $0.pending }
        }
    }
}
