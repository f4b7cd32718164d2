/// How a service moves from one model version to the next (an InferenceService's `rollout`): the strategy, the analysis
/// that gates each step, and how long the previous version stays warm for a one-step rollback.
public struct RolloutSpec: Sendable, Hashable, Codable {
    public enum Strategy: Sendable, Hashable, Codable {
        /// The new version serves a share of traffic that grows step by step.
        case canary(steps: [CanaryStep])
        /// The new version starts beside the old one without traffic; after its analysis (or a person's promote) all
        /// traffic moves at once.
        case blueGreen
    }

    public enum CanaryStep: Sendable, Hashable, Codable {
        /// Send this percentage of requests to the new version.
        case setWeight(Int)
        /// Wait this many seconds; nil: until a person promotes.
        case pause(seconds: Int64?)
        /// Measure the new version over this many seconds against the rules; a failed rule rolls back.
        case analysis(seconds: Int64)
    }

    public var strategy: Strategy
    public var rules: [AnalysisRule]
    /// Seconds the previous version keeps its replicas after a promotion: a rollback in that time is one routing change.
    public var rollbackWindow: Int64
    /// Blue-green: seconds the new version is measured on the requests that ask for it (preview traffic) before the
    /// switch; nil: `RolloutMachine.blueGreenWindow`.
    public var previewSeconds: Int64?

    public init(strategy: Strategy, rules: [AnalysisRule] = [], rollbackWindow: Int64 = 3600, previewSeconds: Int64? = nil) {
        self.strategy = strategy
        self.rules = rules
        self.rollbackWindow = rollbackWindow
        self.previewSeconds = previewSeconds
    }
}

/// One condition on the new version's measurements over an analysis window.
public struct AnalysisRule: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Metric: String, Sendable, Hashable, Codable {
        /// Share of requests answered without a 5xx, 0...1.
        case successRate
        case p99LatencyMs
        /// Time to first token of streamed answers, p99.
        case timeToFirstTokenMs
    }

    public var metric: Metric
    /// `successRate` must be at least this; the latencies at most this.
    public var threshold: Double
    /// Fewer requests than this in the window: no verdict yet (the window starts again).
    public var minRequests: Int

    public init(_ metric: Metric, _ threshold: Double, minRequests: Int = 50) {
        self.metric = metric
        self.threshold = threshold
        self.minRequests = minRequests
    }

    public var description: String {
        switch metric {
        case .successRate: "success rate at least \(threshold)"
        case .p99LatencyMs: "p99 latency at most \(threshold) ms"
        case .timeToFirstTokenMs: "time to first token at most \(threshold) ms"
        }
    }
}

/// What the gateway measured of the new version over one analysis window.
public struct Measurement: Sendable, Hashable, Codable {
    public var requests: Int
    public var successRate: Double
    public var p99LatencyMs: Double
    public var timeToFirstTokenMs: Double?
    /// Failed requests by side (`ServingFault`): the model server's 5xx or missing answers, and the infrastructure's
    /// (unreachable replicas).
    public var modelErrors: Int
    public var infrastructureErrors: Int

    public init(requests: Int, successRate: Double, p99LatencyMs: Double, timeToFirstTokenMs: Double? = nil, modelErrors: Int = 0, infrastructureErrors: Int = 0) {
        self.requests = requests
        self.successRate = successRate
        self.p99LatencyMs = p99LatencyMs
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.modelErrors = modelErrors
        self.infrastructureErrors = infrastructureErrors
    }

    /// Which side the failures were on, when there were any: `(model-side: 40, infrastructure-side: 0)`.
    public var errorSides: String {
        modelErrors + infrastructureErrors == 0 ? "" : " (model-side: \(modelErrors), infrastructure-side: \(infrastructureErrors))"
    }

    /// Each rule's verdict: nil when it passes; the reason, with the figures, when it fails.
    public func failures(of rules: [AnalysisRule]) -> [String] {
        rules.compactMap { r in
            switch r.metric {
            case .successRate:
                successRate >= r.threshold ? nil : "success rate \(Self.figure(successRate)) below \(Self.figure(r.threshold)) over \(requests) requests\(errorSides)"
            case .p99LatencyMs:
                p99LatencyMs <= r.threshold ? nil : "p99 latency \(Self.figure(p99LatencyMs)) ms above \(Self.figure(r.threshold)) ms over \(requests) requests"
            case .timeToFirstTokenMs:
                (timeToFirstTokenMs ?? 0) <= r.threshold ? nil
                    : "time to first token \(Self.figure(timeToFirstTokenMs ?? 0)) ms above \(Self.figure(r.threshold)) ms over \(requests) requests"
            }
        }
    }

    static func figure(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(format: "%.3g", d) }
}

extension RolloutSpec.CanaryStep {
    /// A step as people write it: `10` or `10%` (the new version's share), `analysis 60s`, `pause 30s`, `pause` (until
    /// promoted). Durations in s, m or h.
    public static func parse(_ text: String) -> Result<Self, RolloutSpec.Problem> {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let words = t.split(whereSeparator: { $0 == " " || $0 == ":" }).map(String.init)
        if words.count == 1, let w = Int(words[0].hasSuffix("%") ? String(words[0].dropLast()) : words[0]) {
            return (0...100).contains(w) ? .success(.setWeight(w)) : .failure(.init("'\(text)': a share is 0 to 100 percent"))
        }
        if words == ["pause"] { return .success(.pause(seconds: nil)) }
        if words.count == 2, let s = RolloutSpec.seconds(words[1]), s > 0 {
            switch words[0] {
            case "pause": return .success(.pause(seconds: s))
            case "analysis": return .success(.analysis(seconds: s))
            default: break
            }
        }
        return .failure(.init("'\(text)' is not a step: write a share (10 or 10%), 'analysis 60s', 'pause 30s' or 'pause'"))
    }

    public var text: String {
        switch self {
        case .setWeight(let w): "\(w)%"
        case .pause(let s?): "pause \(s)s"
        case .pause(nil): "pause"
        case .analysis(let s): "analysis \(s)s"
        }
    }
}

extension RolloutSpec {
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// `30s`, `5m`, `1h`, or a number of seconds.
    public static func seconds(_ s: String) -> Int64? {
        if let n = Int64(s) { return n }
        guard let unit = s.last, let n = Int64(s.dropLast()) else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        default: return nil
        }
    }
}
