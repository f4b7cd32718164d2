import Foundation
import Synchronization

/// Where the control plane reads the time: the only seam between the lifecycle and the wall clock, so tests run it in
/// virtual time (`ManualClock`) and the state machine itself never reads a clock at all.
public protocol RuntimeClock: Sendable {
    var now: Date { get }
}

/// The machine's wall clock.
public struct SystemClock: RuntimeClock {
    public init() {}
    public var now: Date { Date() }
}

/// A clock that moves only when told to: virtual time for tests and simulations.
public final class ManualClock: RuntimeClock, Sendable {
    private let time: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { time = Mutex(start) }

    public var now: Date { time.withLock { $0 } }

    public func advance(by seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    public func advance(by d: Duration) { advance(by: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
}
