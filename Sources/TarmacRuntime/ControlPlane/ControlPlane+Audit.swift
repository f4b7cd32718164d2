import TarmacAPI
import TarmacCore

/// The audit trail as the API reads it: through the control plane and its access rules, never from the store directly.
extension ControlPlane {
    /// Records that match the query, in chain order (admins and platform-wide viewers).
    public nonisolated func audit(_ query: AuditQuery, by caller: Principal) async throws -> [AuditRecord] {
        try Access.require(caller, .readAudit)
        return try await store.auditRecords(query)
    }

    /// The chain checked from its first record, against the anchors written outside the store (`AuditAnchor`).
    public nonisolated func verifyAudit(anchors: [AuditAnchor], by caller: Principal) async throws -> AuditVerification {
        try Access.require(caller, .readAudit)
        return AuditChain.verify(try await store.auditRecords(AuditQuery()), anchors: anchors)
    }
}
