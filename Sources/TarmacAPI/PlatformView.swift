import Foundation

/// What the contract offers (`GET /v1/platform`).
public struct PlatformView: Codable, Sendable, Hashable {
    public var name: String
    public var environments: [String]
    public var teams: [String]
    public var accelerators: [String]
    public var pools: [String]
    public var priorities: [String: Int]
    /// The machines the engine places on now.
    public var nodes: [NodeView]
    public init(name: String, environments: [String], teams: [String], accelerators: [String], pools: [String], priorities: [String: Int],
                nodes: [NodeView]) {
        self.name = name
        self.environments = environments
        self.teams = teams
        self.accelerators = accelerators
        self.pools = pools
        self.priorities = priorities
        self.nodes = nodes
    }
}

public struct NodeView: Codable, Sendable, Hashable {
    public var name: String
    public var cpuMilli: Int
    public var memoryMiB: Int
    public var gpus: Int
    public var accelerator: String?
    public var pool: String?
    public var domain: String?
    /// The cluster it belongs to, when the platform has several (its name is then `CLUSTER/NODE`).
    public var cluster: String?
    public init(name: String, cpuMilli: Int, memoryMiB: Int, gpus: Int, accelerator: String?, pool: String? = nil, domain: String? = nil, cluster: String? = nil) {
        self.cluster = cluster
        self.name = name
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpus = gpus
        self.accelerator = accelerator
        self.pool = pool
        self.domain = domain
    }
}

/// A t-shirt size as resolved for a team and environment (`GET /v1/sizes`), in the units users write.
public struct SizeView: Codable, Sendable, Hashable {
    public var workloadClass: String
    public var name: String
    public var cpu: String
    public var memory: String
    public var gpus: String
    public var accelerator: String?
    public var description: String?
    /// Whether one pod of it can start on this server's nodes within the team's quota (nil: not asked, no team).
    public var startsHere: Bool?
    /// Why it cannot, in the contract's names and users' units.
    public var why: String?
    /// The contract's pools that can host it.
    public var pools: [String]?
    /// What one pod of it costs an hour at the contract's rates (GPUs, CPU cores, memory; unset rates count 0).
    public var hourlyCost: Double?
    public init(workloadClass: String, name: String, cpu: String, memory: String, gpus: String, accelerator: String?, description: String?,
                startsHere: Bool? = nil, why: String? = nil, pools: [String]? = nil, hourlyCost: Double? = nil) {
        self.pools = pools
        self.hourlyCost = hourlyCost
        self.startsHere = startsHere
        self.why = why
        self.workloadClass = workloadClass
        self.name = name
        self.cpu = cpu
        self.memory = memory
        self.gpus = gpus
        self.accelerator = accelerator
        self.description = description
    }
}

public struct SizeList: Codable, Sendable, Hashable {
    public var items: [SizeView]
    public init(items: [SizeView]) { self.items = items }
}

/// One cluster of a platform that has several (`GET /v1/clusters`, `tarmac clusters`).
public struct ClusterView: Codable, Sendable, Hashable {
    public var name: String
    public var region: String?
    public var reachable: Bool
    /// Unreachable past the contract's clusterLostTimeout: its workloads were placed elsewhere.
    public var lost: Bool
    public var lastContact: Date?
    public var unreachableSince: Date?
    public var nodes: Int
    public var pools: [PoolUse]
    /// Workloads whose current attempt is placed there.
    public var workloads: Int
    public var dispatched: Int
    public var rejected: [String: Int]
    public var failovers: Int
    /// The platform objects whose drift was last corrected there (`Kind namespace/name: what`), and when.
    public var drift: [String]
    public var driftAt: Date?
    public var platformErrors: [String]
    public var lastSync: Date?

    public init(name: String, region: String?, reachable: Bool, lost: Bool, lastContact: Date?, unreachableSince: Date?, nodes: Int, pools: [PoolUse],
                workloads: Int, dispatched: Int, rejected: [String: Int], failovers: Int, drift: [String], driftAt: Date?, platformErrors: [String], lastSync: Date?) {
        self.name = name
        self.region = region
        self.reachable = reachable
        self.lost = lost
        self.lastContact = lastContact
        self.unreachableSince = unreachableSince
        self.nodes = nodes
        self.pools = pools
        self.workloads = workloads
        self.dispatched = dispatched
        self.rejected = rejected
        self.failovers = failovers
        self.drift = drift
        self.driftAt = driftAt
        self.platformErrors = platformErrors
        self.lastSync = lastSync
    }

    /// GPUs of one pool in one cluster: how many, and how many Tarmac's workloads hold.
    public struct PoolUse: Codable, Sendable, Hashable {
        public var pool: String
        public var nodes: Int
        public var gpus: Int
        public var gpusUsed: Double
        public init(pool: String, nodes: Int, gpus: Int, gpusUsed: Double) {
            self.pool = pool
            self.nodes = nodes
            self.gpus = gpus
            self.gpusUsed = gpusUsed
        }
    }
}

public struct ClusterList: Codable, Sendable, Hashable {
    public var items: [ClusterView]
    public init(items: [ClusterView]) { self.items = items }
}
