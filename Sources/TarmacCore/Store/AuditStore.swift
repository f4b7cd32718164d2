import Foundation

/// The append-only audit chain. Implementations link each record to the one before it (`AuditRecord.previousHash`)
/// inside the transaction that appends it, so concurrent writers never fork or skip the chain.
public protocol AuditStore: Sendable {
    /// Records in chain order that match the query, at most `query.limit`.
    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord]
    /// The last record of the chain (nil while it is empty).
    func auditHead() async throws -> (seq: Int64, hash: String)?
    /// Appends audit records that belong to no other change.
    func appendAudit(_ audit: [AuditDraft]) async throws
}

extension AuditStore {
    /// Records in chain order, from `since` (inclusive), at most `limit`.
    public func auditRecords(since: Date?, limit: Int?) async throws -> [AuditRecord] {
        try await auditRecords(AuditQuery(since: since, limit: limit))
    }
}
