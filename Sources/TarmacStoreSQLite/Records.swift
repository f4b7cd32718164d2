import TarmacCore
import Foundation
import GRDB
import TarmacPlanning

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
    /// The resolved plan (JSON), written at submit; nil for rows written before plans were stored.
    var plan: Data?

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

    /// One prepared statement for submits (GRDB's record encoding costs more inside the single writer).
    static let insertSQL = "INSERT INTO workload (id, requestID, team, state, createdAt, updatedAt, body, plan) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    var rowArguments: StatementArguments { [id, requestID, team, state, createdAt, updatedAt, body, plan] }

    /// The stored plan, if it was written by this plan version (an older or unreadable one is resolved again).
    func resolvedPlan() -> WorkloadPlan? {
        guard let plan, let p = try? Self.decoder.decode(WorkloadPlan.self, from: plan), p.version == WorkloadPlan.version else { return nil }
        return p
    }

    static var encoder: JSONEncoder { StoredJSON.encoder }
    static var decoder: JSONDecoder { StoredJSON.decoder }
}

/// A row of `token` is an API token as the runtime defines it (only the hash of its secret).
extension APIToken: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "token"
}

/// A row of `audit` is one link of the hash chain, column for field. Text is bound as UTF-8 blobs with their length:
/// SQLite binds text up to the first NUL byte, so a NUL in a log line or a name would otherwise be cut on the way in
/// while the record's hash covers the whole string, and the chain would fail to verify forever after. Every field
/// round-trips byte for byte this way; rows written as text by earlier versions read back the same.
extension AuditRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "audit"

    public init(row: Row) throws {
        // A blob (this version) or text (earlier ones): GRDB reads either as bytes.
        func text(_ column: String) throws -> String { (row[column] as Data?).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        self.init(seq: row["seq"], timeMillis: row["timeMillis"], actorKind: try text("actorKind"), actorID: try text("actorID"),
                  action: try text("action"), object: try text("object"), before: try text("before"), after: try text("after"),
                  detail: try text("detail"), previousHash: try text("previousHash"), hash: try text("hash"),
                  tool: (row["tool"] as Data?).map { String(decoding: $0, as: UTF8.self) },
                  workload: (row["workload"] as Data?).map { String(decoding: $0, as: UTF8.self) })
    }

    /// One prepared statement for the chain's appends (GRDB's record encoding costs more than the hash).
    static let insertSQL = "INSERT INTO audit (seq, timeMillis, actorKind, actorID, action, object, before, after, detail, previousHash, hash, tool, workload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    /// The values of `insertSQL`, as `encode(to:)` stores them.
    var rowArguments: StatementArguments {
        [seq, timeMillis, Data(actorKind.utf8), Data(actorID.utf8), Data(action.utf8), Data(object.utf8), Data(before.utf8), Data(after.utf8),
         Data(detail.utf8), previousHash, hash, tool.map { Data($0.utf8) }, workload.map { Data($0.utf8) }]
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["seq"] = seq
        container["timeMillis"] = timeMillis
        container["actorKind"] = Data(actorKind.utf8)
        container["actorID"] = Data(actorID.utf8)
        container["action"] = Data(action.utf8)
        container["object"] = Data(object.utf8)
        container["before"] = Data(before.utf8)
        container["after"] = Data(after.utf8)
        container["detail"] = Data(detail.utf8)
        container["previousHash"] = previousHash
        container["hash"] = hash
        container["tool"] = tool.map { Data($0.utf8) }
        container["workload"] = workload.map { Data($0.utf8) }
    }
}

/// A row of `transition`: the columns subscribers query by, and the whole transition as JSON.
struct TransitionRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "transition"
    var seq: Int64
    var workload: String
    var event: String
    var body: Data

    init(_ t: Transition) throws {
        seq = t.seq
        workload = t.workload
        event = t.event
        body = try WorkloadRecord.encoder.encode(t)
    }

    func transition() throws -> Transition {
        var t = try WorkloadRecord.decoder.decode(Transition.self, from: body)
        t.seq = seq
        return t
    }
}
