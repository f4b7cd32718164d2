/// The resolved platform contract: what platform engineers declare once and every workload is checked against.
/// Dictionaries are keyed by name; iterate `sorted(by:)` for deterministic output.
public struct Platform: Sendable {
    public var name: String
    public var accelerators: [String: Accelerator] = [:]
    public var pools: [String: Pool] = [:]
    public var sizes: [WorkloadClass: [String: Size]] = [:]
    public var teams: [String: Team] = [:]
    public var priorities: [String: Int] = [:]
    public var defaults = Defaults()
    public var environments: [String: Environment] = [:]
    public var tools: [String: Tool] = [:]
    public var destinations: [String: Destination] = [:]
    public var datasets: [String: Dataset] = [:]
    public var costs = Costs()
    /// The machine `tarmac up` runs workloads on, when it should offer less (or other) than it has.
    public var local: LocalMachine?
    public var origin = Origin.unknown

    public init(name: String) { self.name = name }

    /// Pools that can run a size: same accelerator (or none for CPU sizes), the size's class,
    /// and, when the size names pools, only those.
    public func pools(for size: Size) -> [Pool] {
        pools.values.filter {
            $0.accelerator == size.accelerator && $0.classes.contains(size.workloadClass) && (size.pools.isEmpty || size.pools.contains($0.name))
        }
        .sorted { $0.name < $1.name }
    }

    /// Names of the cohorts teams belong to, each with its member teams.
    public var cohorts: [String: [String]] {
        var out: [String: [String]] = [:]
        for team in teams.values { if let c = team.cohort { out[c, default: []].append(team.name) } }
        return out.mapValues { $0.sorted() }
    }
}

public struct Accelerator: Sendable, Hashable {
    public var name: String
    /// The extended resource the device plugin advertises, e.g. `nvidia.com/gpu`.
    public var resource: String
    /// The GPU product label value (`nvidia.com/gpu.product`).
    public var product: String?
    /// Memory of one device.
    public var memory: ByteQuantity?
    public var interconnect: String?
    public var hourlyCost: Double?
    public var sharing: Sharing?
    public var origin = Origin.unknown

    public init(name: String, resource: String) {
        self.name = name
        self.resource = resource
    }

    /// Time-sliced sharing: up to `maxPerGPU` workloads on one device, advertised as `resource`.
    public struct Sharing: Sendable, Hashable {
        public var maxPerGPU: Int
        public var resource: String?
        public init(maxPerGPU: Int, resource: String? = nil) {
            self.maxPerGPU = maxPerGPU
            self.resource = resource
        }
    }

    /// The resource name for shared slices of this accelerator.
    public var sharedResource: String { sharing?.resource ?? resource + ".shared" }
}

public struct Taint: Sendable, Hashable {
    public var key: String
    public var value: String?
    public var effect: String
    public init(key: String, value: String?, effect: String) {
        self.key = key
        self.value = value
        self.effect = effect
    }
}

public struct Pool: Sendable, Hashable {
    public var name: String
    public var accelerator: String?
    public var gpusPerNode: Int = 0
    public var cpuPerNode = CPUQuantity(millis: 0)
    public var memoryPerNode = ByteQuantity(bytes: 0)
    public var nodes: Int = 0
    public var nodeSelector: [String: String] = [:]
    public var topologyKey: String?
    public var classes: [WorkloadClass] = []
    public var taints: [Taint] = []
    public var hourlyCost: Double?
    public var origin = Origin.unknown

    public init(name: String) { self.name = name }

    public var totalGPUs: Int { gpusPerNode * nodes }

    /// Whether one pod of this size fits on one node of this pool (a fractional GPU needs one device).
    public func canHost(_ size: Size) -> Bool {
        let gpusNeeded = size.gpus.isFractional ? 1 : size.gpus.wholeGPUs
        return gpusNeeded <= gpusPerNode && size.cpu <= cpuPerNode && size.memory <= memoryPerNode
    }

    /// How many pods of this size one node holds at most.
    public func podsPerNode(_ size: Size) -> Int {
        var n = Int(cpuPerNode.millis / max(1, size.cpu.millis))
        n = min(n, Int(memoryPerNode.bytes / max(1, size.memory.bytes)))
        if size.usesGPU { n = min(n, gpusPerNode * 1000 / size.gpus.thousandths) }
        return n
    }
}

/// How a gang's pods are laid out.
public enum Topology: String, Sendable, Codable, CaseIterable {
    /// Each worker's GPUs sit on one node (one NVLink domain); this is a pod's natural unit.
    case node
    /// All workers of the gang in one topology domain of the pool (`topologyKey`, e.g. a rack or zone).
    case domain
}

/// A t-shirt size: what users name instead of bytes. Resources are per pod (per worker, per replica, per task).
public struct Size: Sendable, Hashable, Codable {
    public var workloadClass: WorkloadClass
    public var name: String
    public var accelerator: String?
    public var gpus: GPUAmount = .zero
    public var cpu = CPUQuantity(millis: 0)
    public var memory = ByteQuantity(bytes: 0)
    public var shm: ByteQuantity?
    public var ephemeralStorage: ByteQuantity?
    public var topology: Topology?
    /// Restricts the size to these pools (otherwise: every pool with its accelerator and class).
    public var pools: [String] = []
    public var description: String?
    public var origin = Origin.unknown

    enum CodingKeys: String, CodingKey {
        case workloadClass, name, accelerator, gpus, cpu, memory, shm, ephemeralStorage, topology, pools, description
    }

    public init(workloadClass: WorkloadClass, name: String) {
        self.workloadClass = workloadClass
        self.name = name
    }

    public var reference: String { "\(workloadClass.rawValue)/\(name)" }
    public var usesGPU: Bool { gpus.thousandths > 0 }
}

/// Amounts per resource: GPUs per accelerator name, plus CPU and memory.
public struct ResourceAmounts: Sendable, Hashable {
    public var gpus: [String: GPUAmount] = [:]
    public var cpu: CPUQuantity?
    public var memory: ByteQuantity?
    public init() {}
    public var isEmpty: Bool { gpus.isEmpty && cpu == nil && memory == nil }
}

public struct Team: Sendable, Hashable {
    public var name: String
    public var members: [String] = []
    public var quota = ResourceAmounts()
    public var cohort: String?
    public var borrowingLimit: ResourceAmounts?
    public var lendingLimit: ResourceAmounts?
    public var weight: Double = 1
    public var origin = Origin.unknown
    public init(name: String) { self.name = name }
}

public struct Guardrails: Sendable, Hashable {
    /// Registry hosts or host/path prefixes images may come from. Empty means any.
    public var allowedRegistries: [String] = []
    public var requireSignedImages = false
    public var requireOwner = false
    public var requireRollbackTarget = false
    /// Destinations (by name) workloads may reach. DNS is always allowed.
    public var allowedEgress: [String] = []
    /// The longest `maxDuration` a training or batch job may ask for.
    public var maxDuration: TimeSpan?
    /// Scopes an agent may only hold with `onBehalfOf` set.
    public var origin = Origin.unknown
    public init() {}
}

public struct Environment: Sendable, Hashable {
    public var name: String
    public var guardrails = Guardrails()
    public var overlay: String?
    public var origin = Origin.unknown
    public init(name: String) { self.name = name }
}

/// A tool agents may call, with the scopes it understands.
public struct Tool: Sendable, Hashable {
    public var name: String
    public var endpoint: String
    public var cidr: String?
    public var port: Int?
    public var scopes: [String] = []
    /// Scopes that change or expose data; an agent holding one must act on behalf of a person.
    public var sensitiveScopes: [String] = []
    public var description: String?
    public var origin = Origin.unknown
    public init(name: String, endpoint: String) {
        self.name = name
        self.endpoint = endpoint
    }
}

/// A network destination workloads may be allowed to reach.
public struct Destination: Sendable, Hashable {
    public var name: String
    public var cidr: String
    public var ports: [Int] = []
    public var description: String?
    public var origin = Origin.unknown
    public init(name: String, cidr: String) {
        self.name = name
        self.cidr = cidr
    }
}

/// A dataset that workloads mount by name, backed by a PersistentVolumeClaim in each team namespace.
public struct Dataset: Sendable, Hashable {
    public var name: String
    public var claim: String
    public var readOnly = true
    public var origin = Origin.unknown
    public init(name: String, claim: String) {
        self.name = name
        self.claim = claim
    }
}

public struct Defaults: Sendable, Hashable {
    /// Priority name used when a workload names none, per class.
    public var priority: [WorkloadClass: String] = [:]
    /// Size of the checkpoint volume of a training job.
    public var checkpointStorage = ByteQuantity.gibibytes(100)
    public var storageClass: String?
    public init() {}
}

/// The `local` section: what the local backend's one machine offers. Unset values are read off the machine.
public struct LocalMachine: Sendable, Hashable {
    public var cpu: CPUQuantity?
    public var memory: ByteQuantity?
    public var gpus: Int?
    public var accelerator: String?
    public var origin = Origin.unknown
    public init() {}
}

public struct Costs: Sendable, Hashable {
    public var cpuCoreHour: Double?
    public var memoryGiBHour: Double?
    public init() {}
}
