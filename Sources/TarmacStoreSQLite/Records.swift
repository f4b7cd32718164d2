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

/// A row of `token` is an API token as the runtime defines it (only the hash of its secret).
extension APIToken: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "token"
}

/// A row of `audit` is one link of the hash chain, column for field.
extension AuditRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "audit"
}
