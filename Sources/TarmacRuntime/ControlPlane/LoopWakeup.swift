import TarmacCore
import Synchronization

/// Wakes the control plane's loop before its tick when something it acts on has happened (a submit, a pod's end a
/// backend knows in advance). A signal that arrives while the loop is busy is kept for its next wait; many signals
/// make one wake-up.
final class LoopWakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `limit`, or at the first signal (at once if one came since the last wait).
    func wait(upTo limit: Duration) async {
        let timer = Task { [self] in
            do { try await Task.sleep(for: limit) } catch { return }
            signal()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.pending {
                    s.pending = false
                    return true
                }
                s.waiter = c
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
        // A timer that fired after the signal leaves `pending` set: at most one early tick.
    }
}
