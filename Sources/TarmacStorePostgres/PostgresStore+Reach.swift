import Foundation
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// Whether the server answers within `timeout`: the pool retries a refused connection without end, so a server that
    /// is not there would otherwise make the first statement wait for ever. Throws `.connection` with the last
    /// connection error the pool logged, or the time waited.
    public func reach(timeout: Duration = .seconds(10)) async throws {
        let probe = Task { () -> Result<Void, any Error> in
            do {
                _ = try await read("SELECT 1")
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        let outcome: Result<Void, any Error>? = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, any Error>?, Never>) in
            let answer = FirstAnswer(c)
            Task { answer.give(await probe.value) }
            Task {
                try? await Task.sleep(for: timeout)
                // The timeout's answer first: the probe, once cancelled, answers with the pool's "request cancelled",
                // which must not win the race (it did on a loaded machine).
                answer.give(nil)
                probe.cancel()
            }
        }
        switch outcome {
        case .success?: return
        case .failure(let e)?: throw PostgresStoreError.from(e, statement: "SELECT 1")
        case nil: throw PostgresStoreError.connection("no connection to \(location) within \(timeout): is the server running and reachable? (each failed attempt is logged at --log-level info)")
        }
    }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>
    init(_ c: CheckedContinuation<T, Never>) { continuation = Mutex(c) }
    func give(_ value: T) {
        continuation.withLock { c in
            c?.resume(returning: value)
            c = nil
        }
    }
}
