import GRDB

/// Group commit: writes that arrive while another transaction is being written wait, then go together in the next
/// transaction, one fsync for all of them. Each write runs in a savepoint of its own, so one that fails (a unique key
/// taken) is rolled back alone; each caller is answered only after the transaction that holds its write committed.
actor GroupCommit {
    private struct Job {
        let body: @Sendable (Database) throws -> any Sendable
        let done: CheckedContinuation<any Sendable, any Error>
    }

    private let writer: DatabasePool
    private var queue: [Job] = []
    private var writing = false
    /// The most writes one transaction takes (a bound on the latency of the first of them).
    private let maxBatch: Int

    init(_ writer: DatabasePool, maxBatch: Int = 512) {
        self.writer = writer
        self.maxBatch = maxBatch
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { (c: CheckedContinuation<any Sendable, any Error>) in
            queue.append(Job(body: body, done: c))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
        return value as! T
    }

    private func drain() async {
        while !queue.isEmpty {
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            do {
                let results = try await writer.write { db -> [Result<any Sendable, any Error>] in
                    batch.map { job in
                        var result: Result<any Sendable, any Error> = .failure(CancellationError())
                        do {
                            try db.inSavepoint {
                                result = .success(try job.body(db))
                                return .commit
                            }
                        } catch {
                            result = .failure(error)
                        }
                        return result
                    }
                }
                for (job, r) in zip(batch, results) { job.done.resume(with: r) }
            } catch {
                for job in batch { job.done.resume(throwing: error) }
            }
        }
        writing = false
    }
}
