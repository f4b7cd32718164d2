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
    /// What an InferenceService served through Tarmac's inference gateway that day: tokens (from the answers' `usage`),
    /// requests answered, and its replicas' model loads (from a replica's start to its first ready answer).
    public var promptTokens: Int64 = 0
    public var completionTokens: Int64 = 0
    public var requests: Int64 = 0
    public var modelLoadSeconds: Double = 0
    public var modelLoads: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case day, workload, name, team, env, kind, user, model, accelerator, gpuSeconds, cpuSeconds, memoryGiBSeconds
        case promptTokens, completionTokens, requests, modelLoadSeconds, modelLoads
    }

    /// Rows stored before tokens were counted read as none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        day = try c.decode(String.self, forKey: .day)
        workload = try c.decode(String.self, forKey: .workload)
        name = try c.decode(String.self, forKey: .name)
        team = try c.decode(String.self, forKey: .team)
        env = try c.decode(String.self, forKey: .env)
        kind = try c.decode(String.self, forKey: .kind)
        user = try c.decode(String.self, forKey: .user)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        accelerator = try c.decodeIfPresent(String.self, forKey: .accelerator)
        gpuSeconds = try c.decode(Double.self, forKey: .gpuSeconds)
        cpuSeconds = try c.decode(Double.self, forKey: .cpuSeconds)
        memoryGiBSeconds = try c.decode(Double.self, forKey: .memoryGiBSeconds)
        promptTokens = try c.decodeIfPresent(Int64.self, forKey: .promptTokens) ?? 0
        completionTokens = try c.decodeIfPresent(Int64.self, forKey: .completionTokens) ?? 0
        requests = try c.decodeIfPresent(Int64.self, forKey: .requests) ?? 0
        modelLoadSeconds = try c.decodeIfPresent(Double.self, forKey: .modelLoadSeconds) ?? 0
        modelLoads = try c.decodeIfPresent(Int64.self, forKey: .modelLoads) ?? 0
    }

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
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        requests += other.requests
        modelLoadSeconds += other.modelLoadSeconds
        modelLoads += other.modelLoads
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
