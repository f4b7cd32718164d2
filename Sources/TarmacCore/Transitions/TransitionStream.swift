import Foundation
import Synchronization

/// Every persisted transition, published once and in order to each subscriber, as an `AsyncSequence`.
///
/// A subscriber that passes the `seq` of the last transition it handled (`subscribe(after:)`) first gets the stored
/// transitions after it, then the live ones, with no gap and no duplicate, also across a restart of the control plane.
/// Transitions are delivered in `seq` order even when the stores of different workloads finish out of order.
public final class TransitionStream: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<Transition>.Continuation
        /// The last seq delivered (or replayed) to it.
        var last: Int64
        /// While its replay from the store runs: live transitions held back until the replay catches up.
        var held: [Transition]?
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
        /// The next seq to deliver live; later ones wait in `early` until it arrives.
        var next: Int64 = 1
        var early: [Int64: Transition] = [:]
        var started = false
    }

    private let store: any WorkloadStore
    private let state = Mutex(State())

    public init(store: any WorkloadStore) { self.store = store }

    /// Reads where the stored transitions end, so live delivery continues from there. Called by the control plane at start.
    public func start() async throws {
        let head = try await store.transitionHead()
        state.withLock { s in
            if !s.started {
                s.next = head + 1
                s.started = true
            }
        }
    }

    /// Transitions from now on (`after == nil`), or every stored one after `after` and then the live ones.
    public func subscribe(after: Int64? = nil, bufferingNewest limit: Int = 100_000) -> AsyncStream<Transition> {
        let (stream, continuation) = AsyncStream.makeStream(of: Transition.self, bufferingPolicy: .bufferingNewest(limit))
        let id: UInt64 = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = Subscriber(continuation: continuation, last: after ?? (s.next - 1), held: after == nil ? nil : [])
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        if let after { Task { await self.replay(id, after: after) } }
        return stream
    }

    /// Stored transitions after `after`, page by page, then whatever was held back meanwhile.
    private func replay(_ id: UInt64, after: Int64) async {
        var last = after
        while true {
            let page: [Transition]
            do {
                page = try await store.transitions(after: last, limit: 1000)
            } catch {
                state.withLock { s in
                    s.subscribers[id]?.continuation.finish()
                    s.subscribers[id] = nil
                }
                return
            }
            let alive = state.withLock { s -> Bool in
                guard let sub = s.subscribers[id] else { return false }
                for t in page { sub.continuation.yield(t) }
                return true
            }
            guard alive else { return }
            guard let end = page.last?.seq else { break }
            last = end
        }
        state.withLock { s in
            guard var sub = s.subscribers[id] else { return }
            for t in sub.held ?? [] where t.seq > last {
                sub.continuation.yield(t)
                last = t.seq
            }
            sub.last = last
            sub.held = nil
            s.subscribers[id] = sub
        }
    }

    /// Publishes stored transitions (with their `seq`). Called by the control plane right after each commit.
    public func publish(_ transitions: [Transition]) {
        guard !transitions.isEmpty else { return }
        state.withLock { s in
            if !s.started, let first = transitions.map(\.seq).min() {
                s.next = first
                s.started = true
            }
            for t in transitions where t.seq >= s.next { s.early[t.seq] = t }
            while let t = s.early.removeValue(forKey: s.next) {
                s.next += 1
                for (id, var sub) in s.subscribers {
                    if sub.held != nil {
                        sub.held!.append(t)
                    } else if t.seq > sub.last {
                        sub.continuation.yield(t)
                        sub.last = t.seq
                    }
                    s.subscribers[id] = sub
                }
            }
        }
    }

    /// Ends every subscription (shutdown).
    public func finish() {
        state.withLock { s in
            for sub in s.subscribers.values { sub.continuation.finish() }
            s.subscribers = [:]
        }
    }
}
