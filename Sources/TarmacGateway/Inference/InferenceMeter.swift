import Synchronization

/// What each workload behind the inference gateway served since the last `drain`: answers, and the tokens their
/// `usage` reported. The metering side drains it every few seconds into the ledger (a crash loses at most that much).
public final class InferenceMeter: Sendable {
    public struct Counts: Sendable, Hashable {
        public var requests: Int64 = 0
        public var promptTokens: Int64 = 0
        public var completionTokens: Int64 = 0
        public init(requests: Int64 = 0, promptTokens: Int64 = 0, completionTokens: Int64 = 0) {
            self.requests = requests
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
        }
    }

    private let counts = Mutex<[String: Counts]>([:])

    public init() {}

    /// One answer of `workload` (tokens when its body said them).
    public func record(_ workload: String, promptTokens: Int?, completionTokens: Int?) {
        counts.withLock { c in
            c[workload, default: Counts()].requests += 1
            c[workload, default: Counts()].promptTokens += Int64(promptTokens ?? 0)
            c[workload, default: Counts()].completionTokens += Int64(completionTokens ?? 0)
        }
    }

    /// What was counted since the last drain, by workload; the counts start again from zero.
    public func drain() -> [String: Counts] {
        counts.withLock { c in
            defer { c = [:] }
            return c
        }
    }
}
