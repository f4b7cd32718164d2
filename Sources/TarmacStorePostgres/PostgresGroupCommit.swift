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
                try await sql.execute("SELECT pg_advisory_xact_lock(\(Self.writeLock))")
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

    private func drain() async {
        await started.wait()
        while !queue.isEmpty {
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            let logger = self.logger, fence = self.fence
            do {
                let results = try await client.withConnection { connection -> [Result<any Sendable, any Error>] in
                    let sql = SQLSession(connection: connection, logger: logger)
                    return try await sql.transaction {
                        try await sql.execute("SELECT pg_advisory_xact_lock(\(Self.writeLock))")
                        if let fence {
                            let current = try await sql.value("SELECT epoch FROM leadership WHERE id = 1", as: Int64.self)
                            guard current == fence else { throw PostgresStoreError.deposed(epoch: fence, current: current) }
                        }
                        // One write alone needs no savepoint: its failure rolls back a transaction that holds only it.
                        if batch.count == 1 { return [.success(try await batch[0].body(sql))] }
                        var results: [Result<any Sendable, any Error>] = []
                        for job in batch {
                            try await sql.execute("SAVEPOINT w")
                            do {
                                let value = try await job.body(sql)
                                try await sql.execute("RELEASE SAVEPOINT w")
                                results.append(.success(value))
                            } catch {
                                // Rolled back alone; when the connection broke, this rollback throws and fails the batch.
                                results.append(.failure(error))
                                try await sql.execute("ROLLBACK TO SAVEPOINT w")
                            }
                        }
                        return results
                    }
                }
                for (job, r) in zip(batch, results) { job.done.resume(with: r) }
            } catch {
                for job in batch { job.done.resume(throwing: PostgresStoreError.from(error, statement: "the write transaction")) }
            }
        }
        writing = false
    }
}
