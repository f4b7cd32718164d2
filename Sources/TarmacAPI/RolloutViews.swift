import Foundation

/// One analysis rule as the API takes it: `successRate` at least, `p99LatencyMs` or `timeToFirstTokenMs` at most.
public struct AnalysisRuleBody: Codable, Sendable, Hashable {
    public var metric: String
    public var threshold: Double
    public var minRequests: Int?
    public init(metric: String, threshold: Double, minRequests: Int? = nil) {
        self.metric = metric
        self.threshold = threshold
        self.minRequests = minRequests
    }
}

/// `POST /v1/rollouts`: move a running InferenceService to another model version.
public struct RolloutRequest: Codable, Sendable, Hashable {
    public var team: String?
    public var service: String
    /// The model version to move to (the model stays the service's).
    public var to: String
    /// `canary` (default) or `blueGreen`.
    public var strategy: String?
    /// Canary steps: `10`, `analysis 60s`, `pause 30s`, `pause`.
    public var steps: [String]?
    public var rules: [AnalysisRuleBody]?
    /// Seconds the previous version stays warm after a promotion (default 3600).
    public var rollbackWindowSeconds: Int64?
    /// Blue-green: seconds the new version is measured on preview requests (`X-Tarmac-Version`) before the switch (default 300).
    public var previewSeconds: Int64?
    public init(team: String? = nil, service: String, to: String, strategy: String? = nil, steps: [String]? = nil, rules: [AnalysisRuleBody]? = nil,
                rollbackWindowSeconds: Int64? = nil, previewSeconds: Int64? = nil) {
        self.previewSeconds = previewSeconds
        self.team = team
        self.service = service
        self.to = to
        self.strategy = strategy
        self.steps = steps
        self.rules = rules
        self.rollbackWindowSeconds = rollbackWindowSeconds
    }
}

/// A rollout as the API shows it.
public struct RolloutView: Codable, Sendable, Hashable {
    public var team: String
    public var service: String
    public var env: String
    public var strategy: String
    public var steps: [String]
    public var from: String
    public var to: String
    public var fromWorkload: String
    public var toWorkload: String
    /// starting (the new version is coming up), paused, analyzing, promoted, rolledBack, aborted, failed.
    public var phase: String
    /// Where it stands, in words (the reason of a rollback, with its figures).
    public var message: String
    /// Percent of requests by version.
    public var weights: [String: Int]
    public var startedBy: String
    public var startedAt: Date
    /// After a promotion: until when the previous version stays warm, and whether it still is.
    public var warmUntil: Date?
    public var previousWarm: Bool?
    /// A cold rollback: seconds until the previous version served again.
    public var coldStartSeconds: Double?
    public init(team: String, service: String, env: String, strategy: String, steps: [String], from: String, to: String, fromWorkload: String,
                toWorkload: String, phase: String, message: String, weights: [String: Int], startedBy: String, startedAt: Date, warmUntil: Date? = nil,
                previousWarm: Bool? = nil, coldStartSeconds: Double? = nil) {
        self.team = team
        self.service = service
        self.env = env
        self.strategy = strategy
        self.steps = steps
        self.from = from
        self.to = to
        self.fromWorkload = fromWorkload
        self.toWorkload = toWorkload
        self.phase = phase
        self.message = message
        self.weights = weights
        self.startedBy = startedBy
        self.startedAt = startedAt
        self.warmUntil = warmUntil
        self.previousWarm = previousWarm
        self.coldStartSeconds = coldStartSeconds
    }
}

public struct RolloutList: Codable, Sendable, Hashable {
    public var items: [RolloutView]
    public init(items: [RolloutView]) { self.items = items }
}
