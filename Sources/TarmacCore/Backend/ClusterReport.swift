import Foundation

/// How one cluster of several stands, as the backend that drives them sees it (`tarmac clusters`): whether it
/// answers, what was dispatched there, refused, failed over, and the platform's drift it corrected.
public struct ClusterReport: Sendable, Hashable {
    public var name: String
    public var region: String?
    public var reachable: Bool
    /// Declared lost (unreachable past the contract's clusterLostTimeout): nothing runs there until it answers again.
    public var lost: Bool
    public var lastContact: Date?
    public var unreachableSince: Date?
    /// Attempts launched there, refused there (by reason), and failovers away from it, since Tarmac started.
    public var dispatched: Int
    public var rejected: [String: Int]
    public var failovers: Int
    /// The platform objects whose drift was last corrected, as `Kind namespace/name: what`, and when.
    public var drift: [String]
    public var driftAt: Date?
    /// Platform objects that could not be applied at the last sync.
    public var platformErrors: [String]
    public var lastSync: Date?

    public init(name: String, region: String? = nil, reachable: Bool, lost: Bool, lastContact: Date? = nil, unreachableSince: Date? = nil,
                dispatched: Int = 0, rejected: [String: Int] = [:], failovers: Int = 0, drift: [String] = [], platformErrors: [String] = [], lastSync: Date? = nil) {
        self.name = name
        self.region = region
        self.reachable = reachable
        self.lost = lost
        self.lastContact = lastContact
        self.unreachableSince = unreachableSince
        self.dispatched = dispatched
        self.rejected = rejected
        self.failovers = failovers
        self.drift = drift
        self.platformErrors = platformErrors
        self.lastSync = lastSync
    }
}

/// A backend made of several clusters reports each (the Fleet).
public protocol ReportsClusters: Sendable {
    func clusterReports() async -> [ClusterReport]
}
