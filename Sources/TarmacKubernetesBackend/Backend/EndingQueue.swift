import Foundation

/// The work that follows a workload's end on the cluster (its pods' logs copied to disk, then its objects deleted),
/// done in the background a few at a time: a control plane that recovers many ended workloads at once, or a cluster
/// whose kubelets cannot serve logs, never keeps the API or the loop waiting for it.
actor EndingQueue {
    typealias Job = @Sendable () async -> Void
    let limit: Int
    var running = 0
    var waiting: [Job] = []

    init(limit: Int = 4) { self.limit = limit }

    func enqueue(_ job: @escaping Job) {
        waiting.append(job)
        startNext()
    }

    private func startNext() {
        while running < limit, !waiting.isEmpty {
            let job = waiting.removeFirst()
            running += 1
            Task {
                await job()
                self.finished()
            }
        }
    }

    private func finished() {
        running -= 1
        startNext()
    }

    /// Returns when nothing is left to do, or when the calling task is cancelled (tests and shutdown).
    func drain() async {
        while running > 0 || !waiting.isEmpty, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
