import Foundation

/// `POST /v1/models/{model}/versions/{version}/approve`.
public struct ApprovalRequest: Codable, Sendable, Hashable {
    public var team: String?
    public var comment: String?
    public init(team: String? = nil, comment: String? = nil) {
        self.team = team
        self.comment = comment
    }
}

/// One person's approval of a version's manifest.
public struct ApprovalView: Codable, Sendable, Hashable {
    public var by: String
    public var at: Date
    public var digest: String
    public var comment: String?
    public init(by: String, at: Date, digest: String, comment: String?) {
        self.by = by
        self.at = at
        self.digest = digest
        self.comment = comment
    }
}

/// `POST /v1/models/{model}/promote`: move an environment's alias to a version, through its promotion contract.
public struct PromotionRequestBody: Codable, Sendable, Hashable {
    public var team: String?
    /// A version or an alias.
    public var version: String
    public var env: String
    /// Evaluate every gate and change nothing.
    public var dryRun: Bool?
    public init(team: String? = nil, version: String, env: String, dryRun: Bool? = nil) {
        self.team = team
        self.version = version
        self.env = env
        self.dryRun = dryRun
    }
}

/// One gate of a promotion contract: passed, with what it rested on, or why not.
public struct GateView: Codable, Sendable, Hashable {
    public var gate: String
    public var passed: Bool
    public var message: String
    public init(gate: String, passed: Bool, message: String) {
        self.gate = gate
        self.passed = passed
        self.message = message
    }
}

/// What a promotion did (or, with dryRun or when refused, would do): every gate's result.
public struct PromotionView: Codable, Sendable, Hashable {
    public var team: String
    public var model: String
    public var version: String
    public var env: String
    public var alias: String
    /// The version the alias pointed at before (the rollback target), if any.
    public var previous: String?
    public var promoted: Bool
    public var dryRun: Bool
    public var gates: [GateView]
    public init(team: String, model: String, version: String, env: String, alias: String, previous: String?, promoted: Bool, dryRun: Bool, gates: [GateView]) {
        self.team = team
        self.model = model
        self.version = version
        self.env = env
        self.alias = alias
        self.previous = previous
        self.promoted = promoted
        self.dryRun = dryRun
        self.gates = gates
    }
}
