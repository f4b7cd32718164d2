/// What an environment asks of a model version before it serves there (the platform contract's `promotion` for that
/// environment, once it is read from the contract): each gate is on or off, and the keys it trusts.
public struct PromotionPolicy: Sendable, Hashable {
    public var requireSignature: Bool
    public var trustedKeys: [ManifestSignature.TrustedKey]
    public var requireOwner: Bool
    /// The serving document must be approved by someone other than its author.
    public var requireReview: Bool
    /// A rollback target must be named, registered, and warm (serving now).
    public var requireWarmRollback: Bool
    /// The rollout must gate on analysis rules (a rollout without any would promote blind).
    public var requireAnalysis: Bool

    public init(requireSignature: Bool = false, trustedKeys: [ManifestSignature.TrustedKey] = [], requireOwner: Bool = false, requireReview: Bool = false,
                requireWarmRollback: Bool = false, requireAnalysis: Bool = false) {
        self.requireSignature = requireSignature
        self.trustedKeys = trustedKeys
        self.requireOwner = requireOwner
        self.requireReview = requireReview
        self.requireWarmRollback = requireWarmRollback
        self.requireAnalysis = requireAnalysis
    }
}

/// One promotion as asked: the version's manifest and signature, its owner, who wrote the serving document and who
/// approved it, the rollback target and whether it serves now, the rollout's rules.
public struct PromotionRequest: Sendable, Hashable {
    public var version: String
    public var manifest: ModelManifest
    public var signature: String?
    public var owner: String?
    public var author: String
    public var approvers: [String]
    public var rollbackTarget: String?
    /// The rollback target is registered and has replicas serving now.
    public var rollbackTargetWarm: Bool
    public var rules: [AnalysisRule]

    public init(version: String, manifest: ModelManifest, signature: String?, owner: String?, author: String, approvers: [String],
                rollbackTarget: String?, rollbackTargetWarm: Bool, rules: [AnalysisRule]) {
        self.version = version
        self.manifest = manifest
        self.signature = signature
        self.owner = owner
        self.author = author
        self.approvers = approvers
        self.rollbackTarget = rollbackTarget
        self.rollbackTargetWarm = rollbackTargetWarm
        self.rules = rules
    }
}
