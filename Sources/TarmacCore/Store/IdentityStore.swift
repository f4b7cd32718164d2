import Foundation
import TarmacIdentity

/// Workload and agent identity: signing keys (sealed), grants, and one-time credentials already used. Each change is
/// written with its audit records.
public protocol IdentityStore: Sendable {
    /// Signing keys of workload credentials, sealed (TarmacIdentity), oldest first.
    func signingKeys() async throws -> [SigningKey]
    /// Inserts or replaces keys and deletes others (by kid), with their audit records.
    func saveSigningKeys(_ keys: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws
    /// Every grant of every agent, by id.
    func grants() async throws -> [Grant]
    /// Inserts or replaces grants (by id), with their audit records.
    func saveGrants(_ grants: [Grant], audit: [AuditDraft]) async throws
    /// Marks a one-time credential (an identity bootstrap) used; false when it was used before. With its audit record.
    func redeem(_ key: String, audit: AuditDraft) async throws -> Bool
}
