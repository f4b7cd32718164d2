import Foundation
import Synchronization

/// Where the control plane, its edges and its backends read the time: the one seam between Tarmac and the machine's
/// clocks, so tests run in virtual time (`ManualClock`) and the state machine itself never reads a clock at all.
public protocol RuntimeClock: Sendable {
    /// The wall-clock time (what is stored, shown and compared with deadlines).
    var now: Date { get }
    /// Monotonic time since the clock was made, for measuring how long something took: it never jumps when the wall
    /// clock is set.
    var elapsed: Duration { get }
}

extension RuntimeClock {
    /// How long it has been since an earlier reading of `elapsed`.
    public func since(_ mark: Duration) -> Duration { elapsed - mark }
}

/// The machine's clocks.
public struct SystemClock: RuntimeClock {
    private let origin: ContinuousClock.Instant
    public init() { origin = ContinuousClock.now }
    public var now: Date { Date() }
    public var elapsed: Duration { origin.duration(to: ContinuousClock.now) }
}

/// A clock that moves only when told to: virtual time for tests and simulations.
public final class ManualClock: RuntimeClock, Sendable {
    private let time: Mutex<(now: Date, elapsed: Duration)>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { time = Mutex((start, .zero)) }

    public var now: Date { time.withLock { $0.now } }
    public var elapsed: Duration { time.withLock { $0.elapsed } }

    public func advance(by d: Duration) {
        time.withLock {
            $0.now = $0.now.addingTimeInterval(d.seconds)
            $0.elapsed += d
        }
    }

    public func advance(by seconds: Double) { advance(by: .nanoseconds(Int64((seconds * 1e9).rounded()))) }
}

extension Duration {
    /// In seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
