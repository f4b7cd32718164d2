import Foundation

/// When a waiting workload would start, from the scheduler run forward in virtual time from the current state, and
/// what that assumes. `at` is nil when the known ends do not get it started (`message` says why).
public struct StartEstimateView: Codable, Sendable, Hashable {
    public var at: Date?
    /// Seconds from now (0: the next cycle); nil with `at`.
    public var inSeconds: Int64?
    public var message: String
    /// What the estimate takes for granted (each running job ends at its deadline, nothing else arrives, ...).
    public var assumptions: [String]

    public init(at: Date?, inSeconds: Int64?, message: String, assumptions: [String]) {
        self.at = at
        self.inSeconds = inSeconds
        self.message = message
        self.assumptions = assumptions
    }
}

/// Whether a document could start: now, after waiting (for what), or never here.
public struct FeasibilityView: Codable, Sendable, Hashable {
    /// `fitsNow`, `waits` or `neverFits`.
    public var verdict: String
    public var message: String
    /// `quota`, `shape`, `priority`, `reservation`, `budget` when it waits.
    public var reason: String?
    public var estimatedStart: StartEstimateView?

    public init(verdict: String, message: String, reason: String? = nil, estimatedStart: StartEstimateView? = nil) {
        self.verdict = verdict
        self.message = message
        self.reason = reason
        self.estimatedStart = estimatedStart
    }
}

/// What a submit of a document would say, without queueing it (`POST /v1/workloads/check`): every diagnostic of
/// validation and of this control plane, and, for a valid document, whether and when it would start.
public struct SubmitCheckView: Codable, Sendable, Hashable {
    public var valid: Bool
    public var diagnostics: [DiagnosticPayload]
    public var feasibility: FeasibilityView?

    public init(valid: Bool, diagnostics: [DiagnosticPayload], feasibility: FeasibilityView? = nil) {
        self.valid = valid
        self.diagnostics = diagnostics
        self.feasibility = feasibility
    }
}
