import TarmacCore
import TarmacDelivery
import Foundation
import GRDB
import TarmacIdentity
import TarmacModel
import TarmacPlanning

/// The embedded store: one SQLite file in WAL mode, `synchronous = FULL` so a committed transition survives a power cut,
/// not only a crash. Reads run concurrently with the single writer.
public final class SQLiteStore: Store {
    let pool: DatabasePool
    public let path: String
    /// Submits and transitions that arrive together share one transaction and one fsync.
    let group: GroupCommit

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The single writer keeps the index pages of a large store in memory (SQLite's default is 2,000 pages,
            // 8 MiB): with 100,000 workloads, submits otherwise read B-tree pages back from the file.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -65536") }
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Migrations.migrator.migrate(pool)
        group = GroupCommit(pool)
    }

    /// Migrations applied so far, by name.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Migrations.migrator.appliedMigrations(db) }
    }

    public func loadWorkloads() async throws -> [StoredWorkload] {
        // Decoding the JSON bodies is most of a start with many stored workloads: on every core, on GRDB's reader thread.
        let decoded = try await pool.read { db in
            try WorkloadRecord.order(Column("createdAt"), Column("id")).fetchAll(db)
                .parallelMap { r in Result { StoredWorkload(entry: try r.entry(), plan: r.resolvedPlan()) } }
        }
        return try decoded.map { try $0.get() }
    }

    public func insert(_ workload: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?) {
        // Encoded before the transaction: the single writer only writes.
        var record = try WorkloadRecord(workload)
        record.plan = try plan.map { try WorkloadRecord.encoder.encode($0) }
        let row = record
        let encoded = try transition.map { try Self.encoded($0) }
        let r = try await group.write { db -> Inserted in
            if let r = workload.requestID,
               let existing = try WorkloadRecord.fetchOne(try db.cachedStatement(sql: "SELECT * FROM workload WHERE requestID = ?"), arguments: [r]) {
                return Inserted(workload: try existing.entry(), created: false, transition: nil)
            }
            try db.cachedStatement(sql: WorkloadRecord.insertSQL).execute(arguments: row.rowArguments)
            try Self.append([audit], db)
            return Inserted(workload: workload, created: true, transition: try encoded.map { try Self.append([$0], db)[0] })
        }
        return (r.workload, r.created, r.transition)
    }

    struct Inserted: Sendable {
        var workload: WorkloadEntry
        var created: Bool
        var transition: Transition?
    }

    @discardableResult
    public func update(_ workloads: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition] {
        // Encoded before the transaction: the single writer only writes.
        let rows = try workloads.map { try WorkloadRecord($0) }
        let encoded = try transitions.map { try Self.encoded($0) }
        return try await group.write { db in
            for r in rows {
                // The plan column is left as it is: a plan is written once, at submit.
                try db.execute(sql: "UPDATE workload SET requestID = ?, team = ?, state = ?, createdAt = ?, updatedAt = ?, body = ? WHERE id = ?",
                               arguments: [r.requestID, r.team, r.state, r.createdAt, r.updatedAt, r.body, r.id])
                guard db.changesCount == 1 else { throw RecordError.recordNotFound(databaseTableName: "workload", key: ["id": r.id.databaseValue]) }
            }
            try Self.append(audit, db)
            return try Self.append(encoded, db)
        }
    }

    public func transitions(after seq: Int64, limit: Int) async throws -> [Transition] {
        try await pool.read { db in
            try TransitionRecord.filter(Column("seq") > seq).order(Column("seq")).limit(limit).fetchAll(db).map { try $0.transition() }
        }
    }

    public func transitionHead() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM transition") ?? 0 }
    }

    /// Numbers transitions after the last one, inside the caller's transaction (one writer: no gaps).
    /// A transition with its JSON body, encoded before the write transaction (the body's seq is not read back: the
    /// column's is).
    static func encoded(_ t: Transition) throws -> (Transition, Data) { (t, try WorkloadRecord.encoder.encode(t)) }

    static func append(_ transitions: [(Transition, Data)], _ db: Database) throws -> [Transition] {
        guard !transitions.isEmpty else { return [] }
        var seq = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT MAX(seq) FROM transition")) ?? 0
        let insert = try db.cachedStatement(sql: "INSERT INTO transition (seq, workload, event, body) VALUES (?, ?, ?, ?)")
        return try transitions.map { t, body in
            var t = t
            seq += 1
            t.seq = seq
            try insert.execute(arguments: [seq, t.workload, t.event, body])
            return t
        }
    }

    public func insertToken(_ token: APIToken, audit: AuditDraft) async throws {
        try await pool.write { db in
            try token.insert(db)
            try Self.append([audit], db)
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await pool.read { db in try APIToken.filter(Column("hash") == hash).fetchOne(db) }
    }

    public func tokens() async throws -> [APIToken] {
        try await pool.read { db in try APIToken.order(Column("createdAt")).fetchAll(db) }
    }

    public func revokeToken(id: String, audit: AuditDraft) async throws -> Bool {
        try await pool.write { db in
            guard var t = try APIToken.fetchOne(db, key: id), !t.revoked else { return false }
            t.revoked = true
            try t.update(db)
            try Self.append([audit], db)
            return true
        }
    }

    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        try await pool.read { db in try Self.filtered(AuditRecord.order(Column("seq")), query).fetchAll(db) }
    }

    /// The query's conditions on the audit table's indexed columns. Text columns hold UTF-8 bytes (see `AuditRecord`'s
    /// row), so values are bound as bytes, and "starts with" is a range of bytes (no UTF-8 text holds the byte 0xFF).
    static func filtered(_ request: QueryInterfaceRequest<AuditRecord>, _ q: AuditQuery) -> QueryInterfaceRequest<AuditRecord> {
        func bytes(_ s: String) -> Data { Data(s.utf8) }
        func startsWith(_ column: Column, _ prefix: String) -> SQLExpression {
            column >= bytes(prefix) && column < bytes(prefix) + Data([0xFF])
        }
        var r = request
        if let since = q.since { r = r.filter(Column("timeMillis") >= AuditQuery.millis(since)) }
        if let until = q.until { r = r.filter(Column("timeMillis") < AuditQuery.millis(until)) }
        if let action = q.action { r = r.filter(Column("action") == bytes(action)) }
        if let tool = q.tool { r = r.filter(Column("tool") == bytes(tool)) }
        if let workload = q.workload { r = r.filter(Column("workload") == bytes(workload)) }
        if let a = q.actorCondition {
            var any: [SQLExpression] = [startsWith(Column("actorID"), a.idPrefix)]
            if !a.kinds.isEmpty { any.append(a.kinds.map(bytes).contains(Column("actorKind"))) }
            if let kind = a.kind { any.append(Column("actorKind") == bytes(kind) && startsWith(Column("actorID"), a.kindIDPrefix)) }
            r = r.filter(any.joined(operator: .or))
        }
        if let limit = q.limit { r = r.limit(limit) }
        return r
    }

    public func auditHead() async throws -> (seq: Int64, hash: String)? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, CAST(hash AS TEXT) AS hash FROM audit ORDER BY seq DESC LIMIT 1").map { ($0["seq"], $0["hash"]) }
        }
    }

    public func appendAudit(_ audit: [AuditDraft]) async throws {
        // Through the group commit: many small appends (the tool gateway's calls) share a transaction.
        try await group.write { db in try Self.append(audit, db) }
    }

    public func signingKeys() async throws -> [SigningKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT body FROM signing_key ORDER BY createdAt").map { try WorkloadRecord.decoder.decode(SigningKey.self, from: $0["body"] as Data) }
        }
    }

    public func saveSigningKeys(_ keys: [SigningKey], deleting: [String], audit: [AuditDraft]) async throws {
        let rows = try keys.map { ($0.kid, $0.createdAt, try WorkloadRecord.encoder.encode($0)) }
        try await group.write { db in
            for (kid, created, body) in rows {
                try db.execute(sql: "INSERT OR REPLACE INTO signing_key (kid, createdAt, body) VALUES (?, ?, ?)", arguments: [kid, created, body])
            }
            for kid in deleting { try db.execute(sql: "DELETE FROM signing_key WHERE kid = ?", arguments: [kid]) }
            try Self.append(audit, db)
        }
    }

    public func grants() async throws -> [Grant] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT body FROM \"grant\" ORDER BY id").map { try WorkloadRecord.decoder.decode(Grant.self, from: $0["body"] as Data) }
        }
    }

    public func saveGrants(_ grants: [Grant], audit: [AuditDraft]) async throws {
        let rows = try grants.map { ($0.id, $0.workload, try WorkloadRecord.encoder.encode($0)) }
        try await group.write { db in
            for (id, workload, body) in rows {
                try db.execute(sql: "INSERT OR REPLACE INTO \"grant\" (id, workload, body) VALUES (?, ?, ?)", arguments: [id, workload, body])
            }
            try Self.append(audit, db)
        }
    }

    public func register(_ version: ModelVersion, audit: AuditDraft) async throws -> (version: ModelVersion, created: Bool) {
        let body = try WorkloadRecord.encoder.encode(version)
        return try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO model_version (team, model, version, body) VALUES (?, ?, ?, ?)",
                           arguments: [version.team, version.model, version.version.precedenceKey, body])
            guard db.changesCount == 1 else {
                let existing = try Data.fetchOne(db, sql: "SELECT body FROM model_version WHERE team = ? AND model = ? AND version = ?",
                                                 arguments: [version.team, version.model, version.version.precedenceKey])
                return (try existing.map { try WorkloadRecord.decoder.decode(ModelVersion.self, from: $0) } ?? version, false)
            }
            try Self.append([audit], db)
            return (version, true)
        }
    }

    public func modelVersions(team: String?, model: String?) async throws -> [ModelVersion] {
        try await pool.read { db in
            var sql = "SELECT body FROM model_version WHERE 1", args: [(any DatabaseValueConvertible)?] = []
            if let team { sql += " AND team = ?"; args.append(team) }
            if let model { sql += " AND model = ?"; args.append(model) }
            return try Data.fetchAll(db, sql: sql, arguments: StatementArguments(args))
                .map { try WorkloadRecord.decoder.decode(ModelVersion.self, from: $0) }.sorted(by: ModelVersion.registryOrder)
        }
    }

    public func moveAlias(_ alias: ModelAlias, expected: SemanticVersion?, audit: AuditDraft) async throws -> Bool {
        let body = try WorkloadRecord.encoder.encode(alias)
        return try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM model_version WHERE team = ? AND model = ? AND version = ?",
                                    arguments: [alias.team, alias.model, alias.version.precedenceKey]) == true else {
                throw RegistryRefusal("\(alias.model)@\(alias.version) is not registered for team \(alias.team)")
            }
            let current = try Data.fetchOne(db, sql: "SELECT body FROM model_alias WHERE team = ? AND model = ? AND name = ?",
                                            arguments: [alias.team, alias.model, alias.name])
                .map { try WorkloadRecord.decoder.decode(ModelAlias.self, from: $0).version }
            guard current == expected else { return false }
            try db.execute(sql: "INSERT OR REPLACE INTO model_alias (team, model, name, version, body) VALUES (?, ?, ?, ?, ?)",
                           arguments: [alias.team, alias.model, alias.name, alias.version.description, body])
            try Self.append([audit], db)
            return true
        }
    }

    public func aliases(team: String, model: String) async throws -> [ModelAlias] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM model_alias WHERE team = ? AND model = ? ORDER BY name", arguments: [team, model])
                .map { try WorkloadRecord.decoder.decode(ModelAlias.self, from: $0) }
        }
    }

    public func approve(_ approval: ModelApproval, audit: AuditDraft) async throws -> Bool {
        let body = try WorkloadRecord.encoder.encode(approval)
        return try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM model_version WHERE team = ? AND model = ? AND version = ?",
                                    arguments: [approval.team, approval.model, approval.version.precedenceKey]) == true else {
                throw RegistryRefusal("\(approval.model)@\(approval.version) is not registered for team \(approval.team)")
            }
            let seq = (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM model_approval") ?? 0) + 1
            try db.execute(sql: "INSERT OR IGNORE INTO model_approval (team, model, version, by, seq, body) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [approval.team, approval.model, approval.version.precedenceKey, approval.by, seq, body])
            guard db.changesCount == 1 else { return false }
            try Self.append([audit], db)
            return true
        }
    }

    public func approvals(team: String, model: String, version: SemanticVersion) async throws -> [ModelApproval] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM model_approval WHERE team = ? AND model = ? AND version = ? ORDER BY seq",
                              arguments: [team, model, version.precedenceKey])
                .map { try WorkloadRecord.decoder.decode(ModelApproval.self, from: $0) }
        }
    }

    public func review(_ review: DocumentReview, audit: AuditDraft) async throws -> Bool {
        let body = try WorkloadRecord.encoder.encode(review)
        return try await pool.write { db in
            let seq = (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM document_review") ?? 0) + 1
            try db.execute(sql: "INSERT OR IGNORE INTO document_review (team, digest, by, seq, body) VALUES (?, ?, ?, ?, ?)",
                           arguments: [review.team, review.digest, review.by, seq, body])
            guard db.changesCount == 1 else { return false }
            try Self.append([audit], db)
            return true
        }
    }

    public func reviews(team: String, digest: String) async throws -> [DocumentReview] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT body FROM document_review WHERE team = ? AND digest = ? ORDER BY seq", arguments: [team, digest])
                .map { try WorkloadRecord.decoder.decode(DocumentReview.self, from: $0) }
        }
    }

    public func usageCursor() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM usage_cursor WHERE id = 1") ?? 0 }
    }

    public func applyUsage(_ batch: UsageBatch) async throws -> Bool {
        // Rows whose attributes (name, user, model...) were written once; the sums add up in their own columns.
        let bodies = try batch.rows.map { try WorkloadRecord.encoder.encode($0) }
        return try await pool.write { db in
            let cursor = try Int64.fetchOne(db, sql: "SELECT seq FROM usage_cursor WHERE id = 1") ?? 0
            guard batch.through > cursor else { return false }
            for (r, body) in zip(batch.rows, bodies) {
                try db.execute(sql: """
                    INSERT INTO usage (day, workload, team, accelerator, gpu, cpu, memory, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(day, workload) DO UPDATE SET gpu = gpu + excluded.gpu, cpu = cpu + excluded.cpu, memory = memory + excluded.memory
                    """, arguments: [r.day, r.workload, r.team, r.accelerator, r.gpuSeconds, r.cpuSeconds, r.memoryGiBSeconds, body])
            }
            try db.execute(sql: "INSERT INTO usage_cursor (id, seq) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq", arguments: [batch.through])
            return true
        }
    }

    public func addInferenceUsage(_ rows: [UsageRow]) async throws {
        let bodies = try rows.map { try WorkloadRecord.encoder.encode($0) }
        try await pool.write { db in
            for (r, body) in zip(rows, bodies) {
                try db.execute(sql: """
                    INSERT INTO usage (day, workload, team, accelerator, gpu, cpu, memory, body, prompt_tokens, completion_tokens, requests, load_seconds, loads)
                    VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(day, workload) DO UPDATE SET prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                      completion_tokens = completion_tokens + excluded.completion_tokens, requests = requests + excluded.requests,
                      load_seconds = load_seconds + excluded.load_seconds, loads = loads + excluded.loads
                    """, arguments: [r.day, r.workload, r.team, r.accelerator, body, r.promptTokens, r.completionTokens, r.requests, r.modelLoadSeconds, r.modelLoads])
            }
        }
    }

    public func usage(since: String?, until: String?, team: String?) async throws -> [UsageRow] {
        try await pool.read { db in
            var sql = "SELECT body, gpu, cpu, memory, prompt_tokens, completion_tokens, requests, load_seconds, loads FROM usage WHERE 1 = 1"
            var args: [any DatabaseValueConvertible] = []
            if let since { sql += " AND day >= ?"; args.append(since) }
            if let until { sql += " AND day < ?"; args.append(until) }
            if let team { sql += " AND team = ?"; args.append(team) }
            sql += " ORDER BY day, workload"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                var r = try WorkloadRecord.decoder.decode(UsageRow.self, from: row["body"] as Data)
                r.gpuSeconds = row["gpu"]
                r.cpuSeconds = row["cpu"]
                r.memoryGiBSeconds = row["memory"]
                r.promptTokens = row["prompt_tokens"]
                r.completionTokens = row["completion_tokens"]
                r.requests = row["requests"]
                r.modelLoadSeconds = row["load_seconds"]
                r.modelLoads = row["loads"]
                return r
            }
        }
    }

    public func usageTotals(since: String?, until: String?) async throws -> [UsageTotal] {
        try await pool.read { db in
            var sql = "SELECT team, accelerator, SUM(gpu) AS gpu, SUM(cpu) AS cpu, SUM(memory) AS memory FROM usage WHERE 1 = 1"
            var args: [any DatabaseValueConvertible] = []
            if let since { sql += " AND day >= ?"; args.append(since) }
            if let until { sql += " AND day < ?"; args.append(until) }
            sql += " GROUP BY team, accelerator ORDER BY team, accelerator"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                UsageTotal(team: row["team"], accelerator: row["accelerator"], gpuSeconds: row["gpu"], cpuSeconds: row["cpu"], memoryGiBSeconds: row["memory"])
            }
        }
    }

    public func saveRollout(_ record: RolloutRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO rollout (team, service, body) VALUES (?, ?, ?)", arguments: [record.team, record.service, record.body])
        }
    }

    public func rollouts() async throws -> [RolloutRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT team, service, body FROM rollout ORDER BY team, service").map {
                RolloutRecord(team: $0["team"], service: $0["service"], body: $0["body"])
            }
        }
    }

    public func deleteRollout(team: String, service: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM rollout WHERE team = ? AND service = ?", arguments: [team, service])
        }
    }

    public func redeem(_ key: String, audit: AuditDraft) async throws -> Bool {
        try await group.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO redemption (key, at) VALUES (?, ?)", arguments: [key, audit.time])
            guard db.changesCount == 1 else { return false }
            try Self.append([audit], db)
            return true
        }
    }

    /// Links records onto the chain's head, inside the caller's transaction.
    static func append(_ drafts: [AuditDraft], _ db: Database) throws {
        guard !drafts.isEmpty else { return }
        let head = try Row.fetchOne(try db.cachedStatement(sql: "SELECT seq, CAST(hash AS TEXT) AS hash FROM audit ORDER BY seq DESC LIMIT 1"))
        var seq: Int64 = head?["seq"] ?? 0
        var previous: String = head?["hash"] ?? AuditRecord.genesis
        let insert = try db.cachedStatement(sql: AuditRecord.insertSQL)
        for d in drafts {
            seq += 1
            let r = AuditRecord(seq: seq, draft: d, previousHash: previous)
            try insert.execute(arguments: r.rowArguments)
            previous = r.hash
        }
    }
}
