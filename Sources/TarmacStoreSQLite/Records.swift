import Foundation
import GRDB
import TarmacRuntime

/// A row of `workload`: the columns that queries use, and the whole entry as JSON.
struct WorkloadRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "workload"
    var id: String
    var requestID: String?
    var team: String
    var state: String
    var createdAt: Date
    var updatedAt: Date
    var body: Data

    init(_ e: WorkloadEntry) throws {
        id = e.id
        requestID = e.requestID
        team = e.team
        state = e.state.rawValue
        createdAt = e.createdAt
        updatedAt = e.updatedAt
        body = try Self.encoder.encode(e)
    }

    func entry() throws -> WorkloadEntry { try Self.decoder.decode(WorkloadEntry.self, from: body) }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .millisecondsSince1970
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()
}

/// A row of `token`: an API token, by the hash of its secret.
struct TokenRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "token"
    var id: String
    var name: String
    var role: String
    var team: String?
    var hash: String
    var createdAt: Date
    var expiresAt: Date?
    var revoked: Bool
    var createdBy: String

    init(_ t: APIToken) {
        id = t.id
        name = t.name
        role = t.role.rawValue
        team = t.team
        hash = t.hash
        createdAt = t.createdAt
        expiresAt = t.expiresAt
        revoked = t.revoked
        createdBy = t.createdBy
    }

    func token() -> APIToken? {
        guard let r = Role(rawValue: role) else { return nil }
        var t = APIToken(id: id, name: name, role: r, team: team, hash: hash, createdAt: createdAt, expiresAt: expiresAt, createdBy: createdBy)
        t.revoked = revoked
        return t
    }
}

/// A row of `audit`: one link of the hash chain.
struct AuditRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "audit"
    var seq: Int64
    var timeMillis: Int64
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
        timeMillis = r.timeMillis
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

    var record: AuditRecord {
        AuditRecord(seq: seq, timeMillis: timeMillis, actorKind: actorKind, actorID: actorID, action: action, object: object,
                    before: before, after: after, detail: detail, previousHash: previousHash, hash: hash)
    }
}
