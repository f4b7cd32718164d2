/// The metering ledger: usage per workload and day, and the transition it has been summed up to. The sums and that
/// cursor move in one transaction, so after any restart the ledger resumes the transition stream exactly after what it
/// counted: nothing twice, nothing skipped.
public protocol UsageStore: Sendable {
    /// The `seq` of the last transition the ledger applied (0: none).
    func usageCursor() async throws -> Int64
    /// Adds the batch's rows (per workload and day) and moves the cursor to `through`, in one transaction. A batch
    /// through a `seq` at or before the cursor was applied already: nothing is written and the answer is false.
    func applyUsage(_ batch: UsageBatch) async throws -> Bool
    /// Adds what inference services served (tokens, requests, model loads: the rows' other quantities are 0) to their
    /// rows of the day. Not tied to the cursor: the inference gateway counts them, not the transition stream.
    func addInferenceUsage(_ rows: [UsageRow]) async throws
    /// Rows with `since <= day < until` (nil: open), of one team (nil: every team), by day then workload.
    func usage(since: String?, until: String?, team: String?) async throws -> [UsageRow]
    /// The same rows summed per team and accelerator (budgets read these every few seconds: no row is decoded).
    func usageTotals(since: String?, until: String?) async throws -> [UsageTotal]
}

/// One team's usage on one accelerator model (nil: CPU only) over some days.
public struct UsageTotal: Sendable, Hashable {
    public var team: String
    public var accelerator: String?
    public var gpuSeconds: Double
    public var cpuSeconds: Double
    public var memoryGiBSeconds: Double
    public init(team: String, accelerator: String?, gpuSeconds: Double, cpuSeconds: Double, memoryGiBSeconds: Double) {
        self.team = team
        self.accelerator = accelerator
        self.gpuSeconds = gpuSeconds
        self.cpuSeconds = cpuSeconds
        self.memoryGiBSeconds = memoryGiBSeconds
    }
}
