import TarmacDelivery

/// The model registry: versions (registered once, never changed) and aliases (moved by compare-and-set), each change
/// with its audit record.
public protocol RegistryStore: Sendable {
    /// Registers a version unless the team's model already has one of the same precedence (then nothing is written and
    /// that one is returned with `created == false`).
    func register(_ version: ModelVersion, audit: AuditDraft) async throws -> (version: ModelVersion, created: Bool)
    /// Versions of a team's models (all teams when nil; one model when named), by team, model, then precedence.
    func modelVersions(team: String?, model: String?) async throws -> [ModelVersion]
    /// Moves (or creates) an alias, only if it points at `expected` now (nil: it must not exist yet); false and nothing
    /// written otherwise. The version it names must be registered.
    func moveAlias(_ alias: ModelAlias, expected: SemanticVersion?, audit: AuditDraft) async throws -> Bool
    /// Aliases of a team's model, by name.
    func aliases(team: String, model: String) async throws -> [ModelAlias]
    /// Records an approval, once per person and version (false and nothing written when that person approved it
    /// already). The version must be registered.
    func approve(_ approval: ModelApproval, audit: AuditDraft) async throws -> Bool
    /// Approvals of one version, oldest first.
    func approvals(team: String, model: String, version: SemanticVersion) async throws -> [ModelApproval]
    /// Records a review of a serving document, once per person, team and digest (false and nothing written when that
    /// person reviewed it already).
    func review(_ review: DocumentReview, audit: AuditDraft) async throws -> Bool
    /// Reviews of one document (by its digest) in a team, oldest first.
    func reviews(team: String, digest: String) async throws -> [DocumentReview]
}

/// A registry change the store refuses: what it names does not exist.
public struct RegistryRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ModelVersion {
    /// The registry's order: team, model, then version precedence (build metadata last, so the order is total).
    public static func registryOrder(_ a: ModelVersion, _ b: ModelVersion) -> Bool {
        if (a.team, a.model) != (b.team, b.model) { return (a.team, a.model) < (b.team, b.model) }
        if a.version < b.version { return true }
        if b.version < a.version { return false }
        return a.version.description < b.version.description
    }
}
