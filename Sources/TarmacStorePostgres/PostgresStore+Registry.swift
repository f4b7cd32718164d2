import Foundation
import PostgresNIO
import TarmacCore
import TarmacDelivery

/// The model registry on PostgreSQL: versions unique by precedence, aliases moved by compare-and-set (the row locked
/// while it is compared), approvals and reviews once per person.
extension PostgresStore {
    public func register(_ version: ModelVersion, audit: AuditDraft) async throws -> (version: ModelVersion, created: Bool) {
        let body = try Self.encoder.encode(version)
        let key = version.version.precedenceKey
        let (stored, created) = try await write { sql -> (Data, Bool) in
            let inserted = try await sql.rows("""
                INSERT INTO model_version (team, model, version, body) VALUES (\(version.team), \(version.model), \(key), \(body))
                ON CONFLICT (team, model, version) DO NOTHING RETURNING 1
                """)
            guard inserted.count == 1 else {
                let existing = try await sql.value("SELECT body FROM model_version WHERE team = \(version.team) AND model = \(version.model) AND version = \(key)", as: Data.self)
                return (existing ?? body, false)
            }
            try await Self.append([audit], sql)
            return (body, true)
        }
        return (created ? version : try Self.decoder.decode(ModelVersion.self, from: stored), created)
    }

    public func modelVersions(team: String?, model: String?) async throws -> [ModelVersion] {
        try await read("""
            SELECT body FROM model_version WHERE (\(team)::text IS NULL OR team = \(team)) AND (\(model)::text IS NULL OR model = \(model))
            """).map { try Self.decoder.decode(ModelVersion.self, from: try $0.decode(Data.self)) }.sorted(by: ModelVersion.registryOrder)
    }

    /// Refuses (with the registry's message) when the version named is not registered.
    static func requireVersion(team: String, model: String, version: SemanticVersion, _ sql: SQLSession) async throws {
        guard try await sql.value("SELECT true FROM model_version WHERE team = \(team) AND model = \(model) AND version = \(version.precedenceKey)", as: Bool.self) == true else {
            throw RegistryRefusal("\(model)@\(version) is not registered for team \(team)")
        }
    }

    public func moveAlias(_ alias: ModelAlias, expected: SemanticVersion?, audit: AuditDraft) async throws -> Bool {
        let body = try Self.encoder.encode(alias)
        return try await write { sql in
            try await Self.requireVersion(team: alias.team, model: alias.model, version: alias.version, sql)
            let current = try await sql.value("""
                SELECT body FROM model_alias WHERE team = \(alias.team) AND model = \(alias.model) AND name = \(alias.name) FOR UPDATE
                """, as: Data.self).map { try Self.decoder.decode(ModelAlias.self, from: $0).version }
            guard current == expected else { return false }
            try await sql.execute("""
                INSERT INTO model_alias (team, model, name, version, body) VALUES (\(alias.team), \(alias.model), \(alias.name), \(alias.version.description), \(body))
                ON CONFLICT (team, model, name) DO UPDATE SET version = excluded.version, body = excluded.body
                """)
            try await Self.append([audit], sql)
            return true
        }
    }

    public func aliases(team: String, model: String) async throws -> [ModelAlias] {
        try await read("SELECT body FROM model_alias WHERE team = \(team) AND model = \(model) ORDER BY name")
            .map { try Self.decoder.decode(ModelAlias.self, from: try $0.decode(Data.self)) }
    }

    public func approve(_ approval: ModelApproval, audit: AuditDraft) async throws -> Bool {
        let body = try Self.encoder.encode(approval)
        return try await write { sql in
            try await Self.requireVersion(team: approval.team, model: approval.model, version: approval.version, sql)
            let inserted = try await sql.rows("""
                INSERT INTO model_approval (team, model, version, by, seq, body)
                VALUES (\(approval.team), \(approval.model), \(approval.version.precedenceKey), \(approval.by), (SELECT COALESCE(MAX(seq), 0) + 1 FROM model_approval), \(body))
                ON CONFLICT (team, model, version, by) DO NOTHING RETURNING 1
                """)
            guard inserted.count == 1 else { return false }
            try await Self.append([audit], sql)
            return true
        }
    }

    public func approvals(team: String, model: String, version: SemanticVersion) async throws -> [ModelApproval] {
        try await read("SELECT body FROM model_approval WHERE team = \(team) AND model = \(model) AND version = \(version.precedenceKey) ORDER BY seq")
            .map { try Self.decoder.decode(ModelApproval.self, from: try $0.decode(Data.self)) }
    }

    public func review(_ review: DocumentReview, audit: AuditDraft) async throws -> Bool {
        let body = try Self.encoder.encode(review)
        return try await write { sql in
            let inserted = try await sql.rows("""
                INSERT INTO document_review (team, digest, by, seq, body)
                VALUES (\(review.team), \(review.digest), \(review.by), (SELECT COALESCE(MAX(seq), 0) + 1 FROM document_review), \(body))
                ON CONFLICT (team, digest, by) DO NOTHING RETURNING 1
                """)
            guard inserted.count == 1 else { return false }
            try await Self.append([audit], sql)
            return true
        }
    }

    public func reviews(team: String, digest: String) async throws -> [DocumentReview] {
        try await read("SELECT body FROM document_review WHERE team = \(team) AND digest = \(digest) ORDER BY seq")
            .map { try Self.decoder.decode(DocumentReview.self, from: try $0.decode(Data.self)) }
    }
}
