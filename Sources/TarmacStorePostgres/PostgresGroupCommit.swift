import Foundation
import Logging
import PostgresNIO

/// Group commit, as the SQLite store has it: writes that arrive while a transaction is being written wait, then go
/// together in the next transaction, one commit (one WAL flush) for all of them. Every write transaction first takes
/// the store's write lock (a transaction-scoped advisory lock), so writers in every process that shares the database
/// append to the audit chain and the transition log one after another: seqs are handed out in commit order, with no
/// gap and no fork. Each write of a batch runs in a savepoint of its own, so one that fails (a unique key taken) is
/// rolled back alone; each caller is answered only after the transaction that holds its write committed.
actor PostgresGroupCommit {
    typealias Body = @Sendable (SQLSession) async throws -> any Sendable
    private struct Job {
        let body: Body
        /// A submit's insert: the ones next to each other in a batch are written with one statement.
        var insert: PostgresStore.InsertRow? = nil
        let done: CheckedContinuation<any Sendable, any Error>
    }

    private let client: PostgresClient
    private let logger: Logger
    private var queue: [Job] = []
    private var writing = false
    /// The most writes one transaction takes (a bound on the latency of the first of them).
    private let maxBatch: Int

    /// The advisory lock every write transaction takes first ('tarmac' and 1).
    static let writeLock: Int64 = 0x7461_726D_6163_0001
    /// The lock as pg_locks shows it: the key's high and low 32 bits (as oid values).
    static let lockHigh = Int64(UInt64(bitPattern: writeLock) >> 32)
    static let lockLow = Int64(UInt64(bitPattern: writeLock) & 0xFFFF_FFFF)

    private let started: Gate
    /// The epoch this process leads with, once it claimed leadership: every write transaction then checks, under the
    /// write lock, that no later claim was made, and is refused whole if one was (a deposed leader writes nothing).
    private var fence: Int64?

    init(client: PostgresClient, logger: Logger, started: Gate, maxBatch: Int = 256) {
        self.client = client
        self.started = started
        self.logger = logger
        self.maxBatch = maxBatch
    }

    /// Claims leadership: the next epoch, in a write transaction of its own (the claim is not fenced); this process's
    /// writes are fenced by it from then on.
    func claim(holder: String) async throws -> Int64 {
        await started.wait()
        let logger = self.logger
        let epoch = try await client.withConnection { connection -> Int64 in
            let sql = SQLSession(connection: connection, logger: logger)
            return try await sql.transaction {
                // A leader paused inside a write transaction (SIGSTOP, a frozen VM) holds the write lock: its session is
                // ended (its transaction rolled back, nothing of it committed) instead of waited for.
                if try await sql.value("SELECT pg_try_advisory_xact_lock(\(Self.writeLock))", as: Bool.self) != true {
                    let ended = try await sql.rows("""
                        SELECT pg_terminate_backend(pid) FROM pg_locks
                        WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() AND classid = \(Self.lockHigh) AND objid = \(Self.lockLow)
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """).count
                    logger.notice("ended the sessions that held the write lock", metadata: ["sessions": "\(ended)"])
                    try await sql.execute("SELECT pg_advisory_xact_lock(\(Self.writeLock))")
                }
                return try await sql.value("""
                    INSERT INTO leadership (id, epoch, holder, since) VALUES (1, 1, \(holder), now())
                    ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, holder = excluded.holder, since = excluded.since
                    RETURNING epoch
                    """, as: Int64.self) ?? 0
            }
        }
        fence = epoch
        return epoch
    }

    var fenced: Int64? { fence }

    /// Takes the write lock for the session (held across the transactions of a burst of writes), then reads, in one
    /// statement that starts once the lock is held (so it sees every commit before), the fence and the heads of the
    /// audit chain and of the transition log: while the lock is held nobody else moves them, so they are read once per
    /// burst, not per transaction. A deposed leader stops here.
    static func lockSession(_ sql: SQLSession, fence: Int64?) async throws {
        try await sql.execute("SELECT pg_advisory_lock(\(Self.writeLock))")
        try await readHeads(sql, fence: fence)
    }

    static func readHeads(_ sql: SQLSession, fence: Int64?) async throws {
        let row = try await sql.rows("""
            SELECT (SELECT epoch FROM leadership WHERE id = 1), a.seq, a.hash, (SELECT COALESCE(MAX(seq), 0) FROM transition)::bigint
            FROM (SELECT NULL) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) AS a ON true
            """).first
        let (epoch, auditSeq, auditHash, transition) = try row?.decode((Int64?, Int64?, String?, Int64).self) ?? (nil, nil, nil, Int64(0))
        if let fence, epoch != fence { throw PostgresStoreError.deposed(epoch: fence, current: epoch) }
        sql.log.audit = (auditSeq ?? 0, auditHash ?? "")
        sql.log.transition = transition
    }

    /// Errors no retry of the batch gets past: the leader was deposed, the connection broke.
    static func failsEveryWrite(_ error: any Error) -> Bool {
        switch error as? PostgresStoreError {
        case .deposed?, .connection?: return true
        default: return false
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (SQLSession) async throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { (c: CheckedContinuation<any Sendable, any Error>) in
            queue.append(Job(body: { try await body($0) }, done: c))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
        return value as! T
    }

    /// A submit's insert, in the next group commit.
    func insert(_ row: PostgresStore.InsertRow) async throws -> PostgresStore.Inserted {
        let value = try await withCheckedThrowingContinuation { (c: CheckedContinuation<any Sendable, any Error>) in
            queue.append(Job(body: { try await PostgresStore.insertOne(row, $0) }, insert: row, done: c))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
        return value as! PostgresStore.Inserted
    }

    /// The batch's writes in order, runs of inserts each in one statement.
    private static func run(_ batch: [Job], _ sql: SQLSession) async throws -> [Result<any Sendable, any Error>] {
        var results: [Result<any Sendable, any Error>] = []
        var i = 0
        while i < batch.count {
            var j = i
            while j < batch.count, batch[j].insert != nil { j += 1 }
            if j - i >= 2 {
                results += try await PostgresStore.insertMany(batch[i..<j].map { $0.insert! }, sql).map { .success($0) }
                i = j
            } else {
                results.append(.success(try await batch[i].body(sql)))
                i += 1
            }
        }
        return results
    }

    /// The next batch (nil: nothing waits).
    private func take() -> [Job]? {
        guard !queue.isEmpty else { return nil }
        let batch = Array(queue.prefix(maxBatch))
        queue.removeFirst(batch.count)
        return batch
    }

    /// How long one burst holds the write lock before it lets another process's writer in.
    static let holdFor: Duration = .milliseconds(200)

    /// Writes while there is something to write: one connection and the write lock (session-scoped) for a burst of
    /// batches, the heads and the fence read once at its start; each batch one transaction (a batch of submits alone,
    /// one statement and no transaction around it). The lock is given back when the queue is empty or the burst is
    /// long; a claim by another process ends the session (and so the lock) instead of waiting for it.
    private func drain() async {
        await started.wait()
        let logger = self.logger
        while !queue.isEmpty {
            let fence = self.fence
            var current: [Job] = []
            do {
                try await client.withConnection { connection in
                    let sql = SQLSession(connection: connection, logger: logger)
                    do {
                        try await Self.lockSession(sql, fence: fence)
                        let clock = ContinuousClock()
                        let since = clock.now
                        while clock.now - since < Self.holdFor, let batch = self.take() {
                            current = batch
                            let results = try await Self.write(batch, sql, fence: fence)
                            current = []
                            for (job, r) in zip(batch, results) { job.done.resume(with: r) }
                        }
                        try await sql.execute("SELECT pg_advisory_unlock(\(Self.writeLock))")
                    } catch {
                        // The connection goes back to the pool: it must not keep the lock (a broken one holds nothing).
                        try? await sql.execute("SELECT pg_advisory_unlock_all()")
                        throw error
                    }
                }
            } catch {
                // The session broke (a claim ended it, the server went away), or this process was deposed: the batch
                // being written fails (or, when none was, the next one: every failure answers someone, so a server
                // that is gone fails the queue instead of spinning on it); what still waits is tried again on another
                // connection; a deposed process fails everything.
                let failure = PostgresStoreError.from(error, statement: "the write transaction")
                if current.isEmpty { current = take() ?? [] }
                for job in current { job.done.resume(throwing: failure) }
                if case .deposed? = failure as? PostgresStoreError {
                    for job in queue { job.done.resume(throwing: failure) }
                    queue.removeAll()
                }
            }
        }
        writing = false
    }

    /// One batch, under the session's write lock: the results of its writes, in order. A write that fails alone (a
    /// unique key taken) fails alone; an error that breaks the session is thrown.
    private static func write(_ batch: [Job], _ sql: SQLSession, fence: Int64?) async throws -> [Result<any Sendable, any Error>] {
        let before = sql.log.snapshot
        do {
            // Submits alone: one statement, atomic without a transaction around it.
            if batch.allSatisfy({ $0.insert != nil }) {
                if batch.count == 1 { return [.success(try await batch[0].body(sql))] }
                return try await PostgresStore.insertMany(batch.map { $0.insert! }, sql).map { .success($0) }
            }
            // The common case: every write of the batch in one transaction, no savepoint between them, the submits next
            // to each other in one statement.
            return try await sql.transaction { try await run(batch, sql) }
        } catch {
            sql.log.restore(before)
            guard !failsEveryWrite(error) else { throw error }
            guard batch.count > 1 else { return [.failure(error)] }
        }
        // One write failed (a unique key taken, a request id used, a refusal of its own): the batch again, each write
        // alone in a savepoint of its own so that the one that fails is rolled back alone.
        do {
            return try await sql.transaction {
                var results: [Result<any Sendable, any Error>] = []
                for job in batch {
                    try await sql.execute("SAVEPOINT w")
                    let snapshot = sql.log.snapshot
                    do {
                        let value = try await job.body(sql)
                        try await sql.execute("RELEASE SAVEPOINT w")
                        results.append(.success(value))
                    } catch {
                        // Rolled back alone; when the connection broke, this rollback throws and fails the batch.
                        results.append(.failure(error))
                        sql.log.restore(snapshot)
                        try await sql.execute("ROLLBACK TO SAVEPOINT w")
                    }
                }
                return results
            }
        } catch {
            sql.log.restore(before)
            throw error
        }
    }
}
