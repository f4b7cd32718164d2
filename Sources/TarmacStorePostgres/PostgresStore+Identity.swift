import Foundation
import PostgresNIO
import TarmacCore
import TarmacIdentity

/// Signing keys, grants and one-time redemptions on PostgreSQL, each change with its audit records.
extension PostgresStore {
    public func signingKeys() async throws -> [SigningKey] {
        try await read("SELECT body FROM signing_key ORDER BY \"createdAt\", kid").map { try Self.decoder.decode(SigningKey.self, from: try $0.decode(Data.self)) }
    }

    public func saveSigningKeys(_ keys: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws {
        let rows = try keys.map { ($0.kid, $0.createdAt, try Self.encoder.encode($0)) }
        try await write { sql in
            for (kid, created, body) in rows {
                try await sql.execute("""
                    INSERT INTO signing_key (kid, "createdAt", body) VALUES (\(kid), \(created), \(body))
                    ON CONFLICT (kid) DO UPDATE SET "createdAt" = excluded."createdAt", body = excluded.body
                    """)
            }
            for kid in deleting { try await sql.execute("DELETE FROM signing_key WHERE kid = \(kid)") }
            try await Self.append(audit, sql)
        }
    }

    public func grants() async throws -> [Grant] {
        try await read("SELECT body FROM \"grant\" ORDER BY id").map { try Self.decoder.decode(Grant.self, from: try $0.decode(Data.self)) }
    }

    public func saveGrants(_ grants: [Grant], audit: [AuditDraft]) async throws {
        let rows = try grants.map { ($0.id, $0.workload, try Self.encoder.encode($0)) }
        try await write { sql in
            for (id, workload, body) in rows {
                try await sql.execute("""
                    INSERT INTO "grant" (id, workload, body) VALUES (\(id), \(workload), \(body))
                    ON CONFLICT (id) DO UPDATE SET workload = excluded.workload, body = excluded.body
                    """)
            }
            try await Self.append(audit, sql)
        }
    }

    public func redeem(_ key: String, audit: AuditDraft) async throws -> Bool {
        try await write { sql in
            let inserted = try await sql.rows("INSERT INTO redemption (key, at) VALUES (\(key), \(audit.time)) ON CONFLICT (key) DO NOTHING RETURNING 1")
            guard inserted.count == 1 else { return false }
            try await Self.append([audit], sql)
            return true
        }
    }
}
