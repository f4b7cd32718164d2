import Foundation
import TarmacRuntime

/// A workload as the API shows it (the submitted document is left out; it can be large).
struct WorkloadView: Codable, Sendable {
    var id: String
    var name: String
    var team: String
    var env: String
    var kind: String
    var owner: String?
    var submittedBy: String
    var requestID: String?
    var size: String
    var pods: Int
    var priority: Int
    var state: String
    var message: String?
    var cause: String?
    var attempt: Int
    var maxAttempts: Int
    var cancelRequested: Bool
    var createdAt: Date
    var updatedAt: Date
    var admittedAt: Date?
    var startedAt: Date?
    var finishedAt: Date?
    var placements: [PodPlacement]
    var exitCode: Int?
    var gpuSeconds: Double
    var cpuSeconds: Double

    init(_ e: WorkloadEntry) {
        id = e.id
        name = e.name
        team = e.team
        env = e.env
        kind = e.kind
        owner = e.owner
        submittedBy = e.submittedBy
        requestID = e.clientRequestID
        size = e.size
        pods = e.podCount
        priority = e.priority
        state = e.state.rawValue
        message = e.message
        cause = e.cause
        attempt = e.attempt
        maxAttempts = e.maxAttempts
        cancelRequested = e.cancelRequested
        createdAt = e.createdAt
        updatedAt = e.updatedAt
        admittedAt = e.admittedAt
        startedAt = e.startedAt
        finishedAt = e.finishedAt
        placements = e.placements
        exitCode = e.exitCode
        gpuSeconds = e.gpuSeconds
        cpuSeconds = e.cpuSeconds
    }
}

struct WorkloadList: Codable { var items: [WorkloadView] }

struct QueueItem: Codable {
    var position: Int
    var workload: WorkloadView
    var reason: String?
    var message: String
}

struct QueueView: Codable { var items: [QueueItem] }

struct TokenView: Codable {
    var id: String
    var name: String
    var role: String
    var team: String?
    var createdAt: Date
    var expiresAt: Date?
    var revoked: Bool
    var createdBy: String
    /// Only in the response that creates it.
    var secret: String?

    init(_ t: APIToken, secret: String? = nil) {
        id = t.id
        name = t.name
        role = t.role.rawValue
        team = t.team
        createdAt = t.createdAt
        expiresAt = t.expiresAt
        revoked = t.revoked
        createdBy = t.createdBy
        self.secret = secret
    }
}

struct TokenList: Codable { var items: [TokenView] }

struct TokenRequest: Codable {
    var name: String?
    var role: String
    var team: String?
    /// Seconds.
    var ttlSeconds: Double?
}

struct AuditView: Codable {
    var seq: Int64
    var time: Date
    var actorKind: String
    var actorID: String
    var action: String
    var object: String
    var before: String
    var after: String
    var detail: String
    var previousHash: String
    var hash: String

    init(_ r: AuditRecord) {
        seq = r.seq
        time = Date(timeIntervalSince1970: Double(r.timeMillis) / 1000)
        actorKind = r.actorKind
        actorID = r.actorID
        action = r.action
        object = r.object
        before = r.before
        after = r.after
        detail = r.detail
        previousHash = r.previousHash
        hash = r.hash
    }
}

struct AuditList: Codable { var items: [AuditView] }

struct WhoAmI: Codable {
    var name: String
    var role: String
    var team: String?
    var tokenID: String
}
