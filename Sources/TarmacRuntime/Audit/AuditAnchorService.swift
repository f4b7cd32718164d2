import TarmacCore
import Foundation
import Logging
import ServiceLifecycle

/// Writes the audit chain's head to the anchor file (and the log) whenever it moved, every `interval` and once more
/// at shutdown, so that `audit verify` can tell a cut-off tail or a rewritten chain from an intact one.
public struct AuditAnchorService: Service {
    let store: any Store
    let path: String
    let interval: Duration
    let logger: Logger
    let clock: any RuntimeClock

    public init(store: any Store, path: String, interval: Duration = .seconds(10), logger: Logger = Logger(label: "tarmac.audit"),
                clock: any RuntimeClock = SystemClock()) {
        self.clock = clock
        self.store = store
        self.path = path
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let first = (try? AuditAnchor.read(path))?.last?.seq
        let last = await cancelWhenGracefulShutdown { () async -> Int64? in
            var last = first
            while !Task.isCancelled {
                last = await anchor(after: last)
                try? await Task.sleep(for: interval)
            }
            return last
        }
        _ = await anchor(after: last ?? first)
    }

    /// Writes an anchor if the head is past `last`; returns the newest anchored sequence number.
    public func anchor(after last: Int64?) async -> Int64? {
        do {
            guard let head = try await store.auditHead(), head.seq != last else { return last }
            let a = AuditAnchor(seq: head.seq, hash: head.hash, time: clock.now)
            try AuditAnchor.append(a, to: path)
            logger.notice("audit anchor", metadata: ["seq": "\(a.seq)", "hash": "\(a.hash)"])
            return a.seq
        } catch {
            logger.error("could not write the audit anchor", metadata: ["path": "\(path)", "error": "\(error)"])
            return last
        }
    }
}
