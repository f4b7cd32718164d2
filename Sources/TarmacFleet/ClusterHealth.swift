import Foundation

/// Whether one cluster of a fleet answers, as a small state machine over observations and a clock (tested without
/// sockets): reachable; unreachable since a time; lost once unreachable for longer than the contract's
/// `clusterLostTimeout`; back when it answers again.
public struct ClusterHealth: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        /// It stopped answering (nothing new is placed on it from now on).
        case unreachable
        /// Unreachable past the timeout: its workloads are placed elsewhere.
        case lost
        /// It answers again (after being unreachable or lost).
        case back(wasLost: Bool)
    }

    /// The last time it answered.
    public private(set) var lastContact: Date?
    /// Since when it has not answered (nil while it answers).
    public private(set) var unreachableSince: Date?
    public private(set) var lost = false
    /// Times it was declared lost.
    public private(set) var losses = 0

    public init() {}

    public var reachable: Bool { unreachableSince == nil && lastContact != nil }

    /// Records one probe's answer; returns what changed.
    public mutating func observe(answered: Bool, at now: Date) -> Change? {
        if answered {
            lastContact = now
            guard unreachableSince != nil || lost else { return nil }
            let wasLost = lost
            unreachableSince = nil
            lost = false
            return .back(wasLost: wasLost)
        }
        if unreachableSince == nil {
            // Never answered yet: unreachable from the first probe.
            unreachableSince = now
            return .unreachable
        }
        return nil
    }

    /// Declares it lost once it has been unreachable for longer than `timeout`; returns `.lost` at that moment only.
    public mutating func evaluate(now: Date, timeout: TimeInterval) -> Change? {
        guard !lost, let since = unreachableSince, now.timeIntervalSince(since) >= timeout else { return nil }
        lost = true
        losses += 1
        return .lost
    }
}
