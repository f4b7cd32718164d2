import Foundation

/// One workload's usage on one UTC day: what the metering ledger keeps and sums (by team, user, model, day...).
public struct UsageRow: Codable, Sendable, Hashable {
    /// The UTC day, `2026-12-07`.
    public var day: String
    public var workload: String
    public var name: String
    public var team: String
    public var env: String
    public var kind: String
    /// Who submitted it.
    public var user: String
    /// The model an InferenceService serves (`ranker@1.0.0`).
    public var model: String?
    /// Its accelerator model (nil: CPU only).
    public var accelerator: String?
    /// GPU-seconds as shares: a quarter GPU for an hour is 900.
    public var gpuSeconds: Double
    public var cpuSeconds: Double
    public var memoryGiBSeconds: Double

    public init(day: String, workload: String, name: String, team: String, env: String, kind: String, user: String, model: String?, accelerator: String?,
                gpuSeconds: Double, cpuSeconds: Double, memoryGiBSeconds: Double) {
        self.day = day
        self.workload = workload
        self.name = name
        self.team = team
        self.env = env
        self.kind = kind
        self.user = user
        self.model = model
        self.accelerator = accelerator
        self.gpuSeconds = gpuSeconds
        self.cpuSeconds = cpuSeconds
        self.memoryGiBSeconds = memoryGiBSeconds
    }

    /// The row's identity in the ledger: one per workload and day.
    public var key: String { "\(day)|\(workload)" }

    /// `other`'s quantities added (same key).
    public mutating func add(_ other: UsageRow) {
        gpuSeconds += other.gpuSeconds
        cpuSeconds += other.cpuSeconds
        memoryGiBSeconds += other.memoryGiBSeconds
    }
}

/// Deltas to add to the ledger, and the last transition they come from: applied all together or not at all.
public struct UsageBatch: Sendable, Hashable {
    /// The `seq` of the last transition these rows account for.
    public var through: Int64
    public var rows: [UsageRow]
    public init(through: Int64, rows: [UsageRow]) {
        self.through = through
        self.rows = rows
    }
}
