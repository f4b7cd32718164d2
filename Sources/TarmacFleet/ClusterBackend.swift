import Foundation
import TarmacCore
import TarmacKubernetesBackend

/// One cluster of a fleet: a backend that can also say whether its API server answers, and whether it holds objects
/// of a workload (so that what a workload left behind is deleted where it is, and nowhere else is asked).
public protocol ClusterBackend: Backend {
    /// Whether its API server answers now (within a couple of seconds).
    func probe() async -> Bool
    /// Whether it has objects of a workload, of any attempt.
    func holds(workload: String) async -> Bool
    /// Knows a workload without creating anything: its objects are created when an attempt of it is launched here.
    func register(_ workload: ActiveWorkload) async throws
}

extension KubernetesBackend: ClusterBackend {
    public func probe() async -> Bool { await probe(timeout: .seconds(2)) }
}

/// What a cluster's last platform sync found.
public struct PlatformState: Sendable, Hashable {
    public var lastSync: Date?
    /// The last drift corrected (`Kind namespace/name: what`), and when.
    public var drift: [String]
    public var driftAt: Date?
    /// Objects the last sync could not apply.
    public var errors: [String]
    public init(lastSync: Date? = nil, drift: [String] = [], driftAt: Date? = nil, errors: [String] = []) {
        self.lastSync = lastSync
        self.drift = drift
        self.driftAt = driftAt
        self.errors = errors
    }
}

/// A cluster that applies the platform's objects says how that went.
public protocol SyncsPlatform: Sendable {
    func platformState() async -> PlatformState
}

extension KubernetesBackend: SyncsPlatform {
    public func platformState() async -> PlatformState {
        PlatformState(lastSync: lastPlatformSync, drift: lastDrift, driftAt: lastDriftAt,
                      errors: platformOutcomes.filter { $0.action == .failed }.map { "\($0.kind) \($0.namespace.map { "\($0)/" } ?? "")\($0.name): \($0.error ?? "")" })
    }
}
