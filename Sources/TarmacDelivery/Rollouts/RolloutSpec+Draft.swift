/// A rollout as people write it (the `rollout` of an InferenceService document, or the body of `POST /v1/rollouts`),
/// before it is read into a `RolloutSpec`: every problem at once, each with the field it is about.
extension RolloutSpec {
    public struct Draft: Sendable, Hashable {
        public struct Rule: Sendable, Hashable {
            public var metric: String
            public var threshold: Double
            public var minRequests: Int?
            public init(metric: String, threshold: Double, minRequests: Int? = nil) {
                self.metric = metric
                self.threshold = threshold
                self.minRequests = minRequests
            }
        }

        /// `canary` (the default) or `blueGreen`.
        public var strategy: String?
        /// Canary steps as written (`10`, `analysis 60s`, `pause 30s`, `pause`); nil: `defaultSteps`.
        public var steps: [String]?
        public var rules: [Rule]
        public var rollbackWindowSeconds: Int64?
        public var previewSeconds: Int64?

        public init(strategy: String? = nil, steps: [String]? = nil, rules: [Rule] = [], rollbackWindowSeconds: Int64? = nil, previewSeconds: Int64? = nil) {
            self.strategy = strategy
            self.steps = steps
            self.rules = rules
            self.rollbackWindowSeconds = rollbackWindowSeconds
            self.previewSeconds = previewSeconds
        }
    }

    /// A canary's steps when none are written.
    public static let defaultSteps = ["10", "analysis 60s", "50", "analysis 60s"]
    public static let metricNames = ["successRate", "p99LatencyMs", "timeToFirstTokenMs"]

    /// What is wrong with a draft, and where: `field` is a path in the draft (`steps.1`, `rules.0.metric`, `strategy`).
    public struct FieldProblem: Sendable, Hashable, CustomStringConvertible {
        public var field: String
        public var message: String
        public init(_ field: String, _ message: String) {
            self.field = field
            self.message = message
        }
        public var description: String { message }
    }

    /// Every problem of a draft.
    public struct FieldProblems: Error, Sendable, Hashable {
        public var items: [FieldProblem]
        public init(_ items: [FieldProblem]) { self.items = items }
    }

    /// Reads a draft: the spec, or every problem found (`unknownMetric` words the message for a metric name that is
    /// not one, with a did-you-mean where the caller has one).
    public static func read(_ d: Draft, unknownMetric: (String) -> String = { "unknown metric '\($0)' (metrics: \(metricNames.joined(separator: ", ")))" })
        -> Result<RolloutSpec, FieldProblems> {
        var problems: [FieldProblem] = []
        var rules: [AnalysisRule] = []
        for (i, r) in d.rules.enumerated() {
            guard let m = AnalysisRule.Metric(rawValue: r.metric) else {
                problems.append(.init("rules.\(i).metric", unknownMetric(r.metric)))
                continue
            }
            let rule = AnalysisRule(m, r.threshold, minRequests: r.minRequests ?? 50)
            if rule.minRequests < 1 || rule.threshold < 0 {
                problems.append(.init("rules.\(i)", "rule \(rule.description): thresholds are positive and minRequests at least 1"))
            } else if m == .successRate && rule.threshold > 1 {
                problems.append(.init("rules.\(i).threshold", "a success rate is a share, 0 to 1 (0.99 is 99%), not \(Measurement.figure(rule.threshold))"))
            }
            rules.append(rule)
        }
        let strategy: Strategy
        switch d.strategy ?? "canary" {
        case "blueGreen":
            if !(d.steps ?? []).isEmpty { problems.append(.init("steps", "a blue-green rollout has no steps (its analysis runs before the switch, on preview requests)")) }
            if let p = d.previewSeconds, p < 1 { problems.append(.init("previewSeconds", "the preview window lasts at least a second")) }
            strategy = .blueGreen
        case "canary":
            var steps: [CanaryStep] = []
            for (i, t) in (d.steps ?? defaultSteps).enumerated() {
                switch CanaryStep.parse(t) {
                case .success(let s): steps.append(s)
                case .failure(let p): problems.append(.init("steps.\(i)", p.description))
                }
            }
            if steps.isEmpty && d.steps != nil && problems.isEmpty { problems.append(.init("steps", "a canary rollout needs steps (e.g. 10, analysis 60s, 50, analysis 60s)")) }
            if steps.contains(where: { if case .analysis = $0 { true } else { false } }) && rules.isEmpty && d.rules.isEmpty {
                problems.append(.init("rules", "an analysis step needs rules (success rate, p99 latency or time to first token)"))
            }
            if d.previewSeconds != nil { problems.append(.init("previewSeconds", "a preview window is for blue-green rollouts (a canary measures at its analysis steps)")) }
            strategy = .canary(steps: steps)
        case let other:
            problems.append(.init("strategy", "strategy '\(other)' is neither canary nor blueGreen"))
            strategy = .blueGreen
        }
        if let w = d.rollbackWindowSeconds, w < 0 { problems.append(.init("rollbackWindow", "the rollback window cannot be negative")) }
        guard problems.isEmpty else { return .failure(FieldProblems(problems)) }
        return .success(RolloutSpec(strategy: strategy, rules: rules, rollbackWindow: d.rollbackWindowSeconds ?? 3600, previewSeconds: d.previewSeconds))
    }
}
