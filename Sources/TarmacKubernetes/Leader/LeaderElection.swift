import Foundation

/// The settings of leader election, with Kubernetes' defaults (client-go's `leaderelection`, as kube-controller-manager,
/// kube-scheduler, Kueue and KServe use them): a Lease held 15 s, renewed within 10 s, tried every 2 s.
public struct LeaderElectionSettings: Sendable, Equatable {
    /// How long a holder's claim lasts after its last renewal, as others observe it.
    public var leaseDuration: Duration = .seconds(15)
    /// How long the leader keeps trying to renew before it gives up leading.
    public var renewDeadline: Duration = .seconds(10)
    /// How often a candidate tries to acquire, and the leader to renew.
    public var retryPeriod: Duration = .seconds(2)

    public init(leaseDuration: Duration = .seconds(15), renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2)) {
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
    }

    /// client-go's rules: the lease outlasts the renew deadline, which outlasts a retry period with its jitter (×1.2).
    public func validate() throws {
        guard leaseDuration > renewDeadline else { throw LeaderElectionError("the lease duration (\(leaseDuration)) must be longer than the renew deadline (\(renewDeadline))") }
        guard renewDeadline > retryPeriod * 1.2 else { throw LeaderElectionError("the renew deadline (\(renewDeadline)) must be longer than 1.2 × the retry period (\(retryPeriod))") }
        guard retryPeriod > .zero else { throw LeaderElectionError("the retry period must be positive") }
    }
}

public struct LeaderElectionError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a `coordination.k8s.io/v1` Lease holds for leader election (its spec).
public struct LeaseRecord: Sendable, Equatable {
    public var holder: String
    public var leaseDurationSeconds: Int
    public var acquireTime: Date
    public var renewTime: Date
    public var transitions: Int

    public init(holder: String, leaseDurationSeconds: Int, acquireTime: Date, renewTime: Date, transitions: Int) {
        self.holder = holder
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.transitions = transitions
    }
}

/// One candidate's side of leader election, pure: given the Lease as last read (nil: there is none) and the local
/// time, what to write, or whom to wait for. As in client-go, another holder's claim is judged by when *this*
/// candidate saw its record change (its own clock), never by the times written in the record, so clocks that
/// disagree between machines do not let two candidates lead at once.
public struct LeaderElection: Sendable {
    public let identity: String
    public let settings: LeaderElectionSettings
    /// The record as last seen, and when it was first seen like that (local time).
    private(set) var observed: LeaseRecord?
    private(set) var observedAt: Date?

    public init(identity: String, settings: LeaderElectionSettings = LeaderElectionSettings()) {
        self.identity = identity
        self.settings = settings
    }

    public enum Decision: Sendable, Equatable {
        /// There is no Lease: create it with this record.
        case create(LeaseRecord)
        /// Write this record over the one read (with its resourceVersion: a conflict means someone else wrote first).
        case update(LeaseRecord)
        /// Another candidate holds it; its claim lasts until `until` unless renewed.
        case held(by: String, until: Date)
    }

    /// What to do now, given the Lease as read.
    public mutating func decide(lease: LeaseRecord?, now: Date) -> Decision {
        let seconds = Int(settings.leaseDuration.components.seconds)
        guard let lease else {
            return .create(LeaseRecord(holder: identity, leaseDurationSeconds: seconds, acquireTime: now, renewTime: now, transitions: 0))
        }
        if observed != lease {
            observed = lease
            observedAt = now
        }
        let expires = (observedAt ?? now).addingTimeInterval(Double(lease.leaseDurationSeconds))
        if !lease.holder.isEmpty, lease.holder != identity, expires > now {
            return .held(by: lease.holder, until: expires)
        }
        let ours = lease.holder == identity
        return .update(LeaseRecord(holder: identity, leaseDurationSeconds: seconds, acquireTime: ours ? lease.acquireTime : now, renewTime: now,
                                   transitions: ours ? lease.transitions : lease.transitions + 1))
    }

    /// Records a write that succeeded (the record is now what this candidate wrote, seen now).
    public mutating func wrote(_ record: LeaseRecord, now: Date) {
        observed = record
        observedAt = now
    }

    /// A leader that has not renewed since `lastRenewal` must stop leading at `now` (the renew deadline passed).
    public func mustStepDown(lastRenewal: Date, now: Date) -> Bool {
        now.timeIntervalSince(lastRenewal) >= Double(settings.renewDeadline.components.seconds) + Double(settings.renewDeadline.components.attoseconds) / 1e18
    }
}
