import Foundation

/// The control plane's durable state. Every method is one transaction: a change and its audit records land together or
/// not at all. Implementations append audit records to the hash chain inside that transaction.
public protocol Store: Sendable {
    /// Every workload, oldest first.
    func loadWorkloads() async throws -> [WorkloadEntry]
    /// Inserts a new workload, unless one with the same request id exists: then nothing is written and that one is
    /// returned with `created == false`.
    func insert(_ workload: WorkloadEntry, audit: AuditDraft) async throws -> (workload: WorkloadEntry, created: Bool)
    /// Replaces workloads (by id) and appends audit records.
    func update(_ workloads: [WorkloadEntry], audit: [AuditDraft]) async throws

    func insertToken(_ token: APIToken, audit: AuditDraft) async throws
    func token(hash: String) async throws -> APIToken?
    func tokens() async throws -> [APIToken]
    func revokeToken(id: String, audit: AuditDraft) async throws -> Bool

    /// Audit records in chain order, from `since` (inclusive), at most `limit`.
    func auditRecords(since: Date?, limit: Int?) async throws -> [AuditRecord]
    /// The last record of the chain (nil while it is empty).
    func auditHead() async throws -> (seq: Int64, hash: String)?
    /// Appends audit records that belong to no other change.
    func appendAudit(_ audit: [AuditDraft]) async throws
}

/// Errors with a code for the API layer to map.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalid, notFound, conflict, forbidden, unavailable, internalError
    }
    public var code: Code
    public var message: String
    /// Validation problems, when `code == .invalid`.
    public var diagnostics: [DiagnosticPayload]

    public init(_ code: Code, _ message: String, diagnostics: [DiagnosticPayload] = []) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }

    public var description: String { message }
}

/// A diagnostic as the API returns it: the same facts as `tarmac validate` prints.
public struct DiagnosticPayload: Codable, Sendable, Hashable {
    public var severity: String
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var rule: String?
    public var help: String?
    public var text: String
}
