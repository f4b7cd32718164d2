import Foundation

/// API tokens of people and automation (only the hash of each secret is kept), with the audit record of each change.
public protocol TokenStore: Sendable {
    func insertToken(_ token: APIToken, audit: AuditDraft) async throws
    func token(hash: String) async throws -> APIToken?
    /// Every token, oldest first.
    func tokens() async throws -> [APIToken]
    /// Marks a token revoked; false when there is none with that id or it was revoked before (then nothing is written).
    func revokeToken(id: String, audit: AuditDraft) async throws -> Bool
}
