import Foundation
import Logging
import PostgresNIO
import TarmacCore
import TarmacModel
import TarmacPlanning

/// The store of Tarmac in the cluster: the same store protocols on PostgreSQL, so that several replicas share one
/// database. Writes go through a group commit behind one advisory lock (the audit chain and the transition log are
/// appended in commit order, across processes); reads use the pool's other connections. The schema is the SQLite store's
/// named migrations; `open` applies what is missing, `connect` does not (a replica that may not migrate).
public final class PostgresStore: Store {
    public let location: PostgresLocation
    let client: PostgresClient
    let logger: Logger
    let group: PostgresGroupCommit
    private let running: Task<Void, Never>
    /// Opened once the pool runs: nothing leases a connection before.
    private let started = Gate()

    /// Connects without touching the schema (see `migrate()` and `schema()`).
    public init(_ location: PostgresLocation, connections: Int = 16, logger: Logger = Logger(label: "tarmac.store.postgres")) throws {
        self.location = location
        self.logger = logger
        let client = PostgresClient(configuration: try location.configuration(connections: connections), backgroundLogger: logger)
        self.client = client
        let started = self.started
        running = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                // The pool has no signal for "running"; a lease asked for before run() marks itself logs a warning
                // (harmless: the lease waits for the pool). A moment's head start keeps that out of the log.
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(5))
                    started.open()
                }
            }
        }
        group = PostgresGroupCommit(client: client, logger: logger, started: started)
    }

    /// Connects and applies the migrations this version has and the database does not.
    public static func open(_ location: PostgresLocation, connections: Int = 16, logger: Logger = Logger(label: "tarmac.store.postgres")) async throws -> PostgresStore {
        let store = try PostgresStore(location, connections: connections, logger: logger)
        do {
            try await store.reach()
            _ = try await store.migrate()
        } catch {
            store.close()
            throw error
        }
        return store
    }

    deinit { running.cancel() }

    /// Closes the pool's connections.
    public func close() { running.cancel() }

    /// Applies the missing migrations (one replica at a time); the names applied by this call.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await session { try await PostgresMigrations.migrate($0) }
    }

    /// What the database's schema is, next to this version's migrations.
    public struct Schema: Sendable, Equatable {
        /// Applied there, in order.
        public var applied: [String]
        /// This version's, not applied there yet.
        public var missing: [String]
        /// Applied there and unknown to this version: a newer Tarmac wrote the schema.
        public var unknown: [String]
    }

    public func schema() async throws -> Schema {
        let applied = try await session { try await PostgresMigrations.applied($0) }
        let known = PostgresMigrations.all.map(\.name)
        return Schema(applied: applied, missing: known.filter { !applied.contains($0) }, unknown: applied.filter { !known.contains($0) })
    }

    /// Becomes the leader: applies the missing migrations first (the leader migrates, once, before it takes the loop),
    /// refuses if the schema is newer than this version (a replica on the older schema must not write the wrong shape),
    /// then claims the next epoch. From then on every write of this process is fenced by that epoch: once another
    /// process claims a later one, they are refused (`PostgresStoreError.deposed`) and nothing of them is written.
    public func claimLeadership(holder: String) async throws -> Int64 {
        try await migrate()
        return try await group.claim(holder: holder)
    }

    /// The epoch this process leads with (nil: it has not claimed leadership).
    public var leaderEpoch: Int64? { get async { await group.fenced } }

    /// The last claim: its epoch and holder (nil: nobody has led).
    public func leadership() async throws -> (epoch: Int64, holder: String)? {
        guard let row = try await read("SELECT epoch, holder FROM leadership WHERE id = 1").first else { return nil }
        let (epoch, holder) = try row.decode((Int64, String).self)
        return (epoch, holder)
    }

    /// Migrations applied so far, by name.
    public func appliedMigrations() async throws -> [String] { try await schema().applied }

    /// A connection of the pool for `body`.
    func session<T: Sendable>(_ body: (SQLSession) async throws -> T) async throws -> T {
        await started.wait()
        do {
            return try await client.withConnection { c in try await body(SQLSession(connection: c, logger: logger)) }
        } catch {
            throw PostgresStoreError.from(error, statement: "a connection")
        }
    }

    /// The rows of one read.
    func read(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await session { try await $0.rows(query) }
    }

    /// One write, in the next group commit.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLSession) async throws -> T) async throws -> T {
        try await group.write(body)
    }

    static var encoder: JSONEncoder { StoredJSON.encoder }
    static var decoder: JSONDecoder { StoredJSON.decoder }

    // MARK: workloads and transitions

    public func loadWorkloads() async throws -> [StoredWorkload] {
        let rows = try await read("SELECT body, plan FROM workload ORDER BY \"createdAt\", id")
        let bodies = try rows.map { try $0.decode((Data, Data?).self) }
        // Decoding the JSON bodies is most of a start with many stored workloads: on every core.
        return try bodies.parallelMap { body, plan in
            Result { StoredWorkload(entry: try Self.decoder.decode(WorkloadEntry.self, from: body), plan: Self.plan(plan)) }
        }.map { try $0.get() }
    }

    /// The stored plan, if this plan version wrote it (an older or unreadable one is resolved again).
    static func plan(_ data: Data?) -> WorkloadPlan? {
        guard let data, let p = try? decoder.decode(WorkloadPlan.self, from: data), p.version == WorkloadPlan.version else { return nil }
        return p
    }

    struct Inserted: Sendable {
        var workload: WorkloadEntry
        var created: Bool
        var transition: Transition?
    }

    /// A submit's insert, encoded before the transaction (the writer only writes): the group commit writes the inserts
    /// that are next to each other in a batch with one statement (`insertMany`), each alone when one of them fails.
    struct InsertRow: Sendable {
        var workload: WorkloadEntry
        var body: Data
        var plan: Data?
        var audit: AuditDraft
        var transition: (Transition, Data)?

        /// Its workload's eight values, the placeholders for them.
        func bindWorkload(_ binds: inout PostgresBindings) throws -> String {
            let first = binds.count + 1
            binds.append(workload.id)
            binds.append(workload.requestID)
            binds.append(workload.team)
            binds.append(workload.state.rawValue)
            binds.append(workload.createdAt)
            binds.append(workload.updatedAt)
            try binds.append(body)
            try binds.append(plan)
            return (first..<(first + 8)).map { "$\($0)" }.joined(separator: ", ")
        }

        /// Numbers its transition after `seq` and binds it: the placeholders, and the transition as stored.
        func bindTransition(after seq: Int64, _ binds: inout PostgresBindings) throws -> (row: String, stored: Transition)? {
            guard let (t, body) = transition else { return nil }
            var stored = t
            stored.seq = seq + 1
            let first = binds.count + 1
            binds.append(stored.seq)
            binds.append(stored.workload)
            binds.append(stored.event)
            try binds.append(body)
            return ((first..<(first + 4)).map { "$\($0)" }.joined(separator: ", "), stored)
        }
    }

    static let workloadColumns = "(id, \"requestID\", team, state, \"createdAt\", \"updatedAt\", body, plan)"

    public func insert(_ workload: WorkloadEntry, plan: WorkloadPlan?, audit: AuditDraft, transition: Transition?) async throws
        -> (workload: WorkloadEntry, created: Bool, transition: Transition?) {
        let row = InsertRow(workload: workload, body: try Self.encoder.encode(workload), plan: try plan.map { try Self.encoder.encode($0) }, audit: audit,
                            transition: try transition.map { ($0, try Self.encoder.encode($0)) })
        let r = try await group.insert(row)
        return (r.workload, r.created, r.transition)
    }

    /// One insert alone: the workload, unless its request id was used (then nothing), with its audit record and its
    /// transition only if it was inserted; one statement.
    static func insertOne(_ row: InsertRow, _ sql: SQLSession) async throws -> Inserted {
        let before = sql.log.snapshot
        var binds = PostgresBindings()
        let values = try row.bindWorkload(&binds)
        let audit = try await link([row.audit], sql, into: &binds)[0]
        var stored: Transition?
        var transitionRow = ""
        if let (placeholders, t) = try row.bindTransition(after: try await sql.log.transitionHead(sql), &binds) {
            transitionRow = ", t AS (INSERT INTO transition (seq, workload, event, body) SELECT \(placeholders) FROM w)"
            sql.log.transition = t.seq
            stored = t
        }
        let inserted = try await sql.value(PostgresQuery(unsafeSQL: """
            WITH w AS (INSERT INTO workload \(workloadColumns) VALUES (\(values)) ON CONFLICT ("requestID") DO NOTHING RETURNING id),
            a AS (INSERT INTO audit \(auditColumns) SELECT \(audit) FROM w)\(transitionRow)
            SELECT count(*)::bigint FROM w
            """, binds: binds), as: Int64.self)
        if inserted == 1 { return Inserted(workload: row.workload, created: true, transition: stored) }
        // The request id was used: nothing was written, and the heads stay where they were.
        sql.log.restore(before)
        guard let request = row.workload.requestID,
              let existing = try await sql.value("SELECT body FROM workload WHERE \"requestID\" = \(request)", as: Data.self) else {
            throw PostgresStoreError.server(sqlState: nil, message: "workload \(row.workload.id) was not inserted", statement: "INSERT INTO workload")
        }
        return Inserted(workload: try Self.decoder.decode(WorkloadEntry.self, from: existing), created: false, transition: nil)
    }

    /// Several inserts in one statement (one round trip for a batch of submits). A request id already used fails the
    /// statement (a unique key), and the group commit then writes each insert alone (`insertOne`).
    static func insertMany(_ rows: [InsertRow], _ sql: SQLSession) async throws -> [Inserted] {
        var binds = PostgresBindings()
        let workloads = try rows.map { try $0.bindWorkload(&binds) }
        let audits = try await link(rows.map(\.audit), sql, into: &binds)
        var seq = try await sql.log.transitionHead(sql)
        var transitions: [String] = []
        var out: [Inserted] = []
        for row in rows {
            let t = try row.bindTransition(after: seq, &binds)
            if let t {
                seq = t.stored.seq
                transitions.append(t.row)
            }
            out.append(Inserted(workload: row.workload, created: true, transition: t?.stored))
        }
        sql.log.transition = seq
        func values(_ rows: [String]) -> String { rows.map { "(\($0))" }.joined(separator: ", ") }
        let inserted = try await sql.value(PostgresQuery(unsafeSQL: """
            WITH w AS (INSERT INTO workload \(workloadColumns) VALUES \(values(workloads)) RETURNING id),
            a AS (INSERT INTO audit \(auditColumns) VALUES \(values(audits)))\(transitions.isEmpty ? "" : ", t AS (INSERT INTO transition (seq, workload, event, body) VALUES \(values(transitions)))")
            SELECT count(*)::bigint FROM w
            """, binds: binds), as: Int64.self)
        guard inserted == Int64(rows.count) else {
            throw PostgresStoreError.server(sqlState: nil, message: "\(inserted ?? 0) of \(rows.count) workloads inserted", statement: "INSERT INTO workload")
        }
        return out
    }

    @discardableResult
    public func update(_ workloads: [WorkloadEntry], audit: [AuditDraft], transitions: [Transition]) async throws -> [Transition] {
        let rows = try workloads.map { ($0, try Self.encoder.encode($0)) }
        let encoded = try transitions.map { ($0, try Self.encoder.encode($0)) }
        return try await write { sql in
            for (w, body) in rows {
                // The plan column is left as it is: a plan is written once, at submit.
                let changed = try await sql.rows("""
                    UPDATE workload SET "requestID" = \(w.requestID), team = \(w.team), state = \(w.state.rawValue), "createdAt" = \(w.createdAt),
                      "updatedAt" = \(w.updatedAt), body = \(body) WHERE id = \(w.id) RETURNING 1
                    """)
                guard changed.count == 1 else { throw PostgresStoreError.server(sqlState: nil, message: "no workload with id \(w.id)", statement: "UPDATE workload") }
            }
            try await Self.append(audit, sql)
            return try await Self.append(encoded, sql)
        }
    }

    public func transitions(after seq: Int64, limit: Int) async throws -> [Transition] {
        try await read("SELECT seq, body FROM transition WHERE seq > \(seq) ORDER BY seq LIMIT \(Int64(max(0, limit)))").map { row in
            let (seq, body) = try row.decode((Int64, Data).self)
            var t = try Self.decoder.decode(Transition.self, from: body)
            t.seq = seq
            return t
        }
    }

    public func transitionHead() async throws -> Int64 {
        try await session { try await $0.value("SELECT COALESCE(MAX(seq), 0)::bigint FROM transition", as: Int64.self) } ?? 0
    }

    /// Numbers transitions after the last one, inside the caller's write transaction (which holds the write lock: no
    /// other writer in any process numbers meanwhile, so seqs are gapless and in commit order); one statement for all.
    static func append(_ transitions: [(Transition, Data)], _ sql: SQLSession) async throws -> [Transition] {
        guard !transitions.isEmpty else { return [] }
        var seq = try await sql.log.transitionHead(sql)
        var binds = PostgresBindings()
        var rows: [String] = []
        var out: [Transition] = []
        for (t, body) in transitions {
            var t = t
            seq += 1
            t.seq = seq
            let first = binds.count + 1
            binds.append(seq)
            binds.append(t.workload)
            binds.append(t.event)
            try binds.append(body)
            rows.append("($\(first), $\(first + 1), $\(first + 2), $\(first + 3))")
            out.append(t)
        }
        try await sql.execute(PostgresQuery(unsafeSQL: "INSERT INTO transition (seq, workload, event, body) VALUES " + rows.joined(separator: ", "), binds: binds))
        sql.log.transition = seq
        return out
    }
}

extension PostgresStore {
    /// One element each time some process commits transitions (PostgreSQL's LISTEN/NOTIFY on `tarmac_transitions`), for
    /// a `TransitionTail` to read them at once instead of at its next poll. Notifications are a hint: one lost while the
    /// listening connection is re-established is made up by the tail's polling. Ends when the task reading it is cancelled.
    public func transitionWakes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let client = self.client, logger = self.logger, started = self.started
        let task = Task {
            await started.wait()
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "tarmac_transitions") { notifications in
                            // Listening now: whatever was committed before is read by the tail's first poll.
                            continuation.yield()
                            for try await _ in notifications { continuation.yield() }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.debug("listening for transitions failed; trying again", metadata: ["error": "\(PostgresStoreError.from(error, statement: "LISTEN"))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
