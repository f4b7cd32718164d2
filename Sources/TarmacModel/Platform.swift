/// The resolved platform contract: what platform engineers declare once and every workload is checked against.
/// Dictionaries are keyed by name; iterate `sorted(by:)` for deterministic output.
public struct Platform: Sendable {
    public var name: String
    public var accelerators: [String: Accelerator] = [:]
    public var pools: [String: Pool] = [:]
    public var sizes: [WorkloadClass: [String: Size]] = [:]
    public var teams: [String: Team] = [:]
    public var priorities: [String: Int] = [:]
    /// Which priorities may preempt.
    public var preemption = Preemption()
    public var defaults = Defaults()
    public var environments: [String: Environment] = [:]
    public var tools: [String: Tool] = [:]
    /// How workloads prove who they are and how long their credentials live.
    public var identity = IdentitySettings()
    public var destinations: [String: Destination] = [:]
    public var datasets: [String: Dataset] = [:]
    /// The clusters Tarmac drives as one platform, in contract order (empty: the one cluster it is pointed at).
    public var clusters: [ClusterSpec] = []
    /// How long a cluster may be out of reach (or a workload's nodes gone) before its workloads are placed elsewhere.
    public var clusterLostTimeout = TimeSpan(seconds: 15)
    public var costs = Costs()
    /// Where rollouts read their versions' figures when not from Tarmac's own gateway.
    public var metrics = MetricsSettings()
    /// The machine `tarmac up` runs workloads on, when it should offer less (or other) than it has.
    public var local: LocalMachine?
    public var origin = Origin.unknown

    public init(name: String) { self.name = name }

    /// The SPIFFE trust domain of this platform's workloads: the `identity` section's, or one made from the name.
    public var trustDomain: String { identity.trustDomain ?? SPIFFEID.trustDomain(forPlatform: name) }

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
    /// What the team may spend per calendar month (UTC), if anything limits it.
    public var budget: Budget?
    public var origin = Origin.unknown
    public init(name: String) { self.name = name }
}

/// A team's monthly budget: in money (at the contract's rates), in GPU-hours, or both. At `warnAt` of either the team
/// is warned; at the whole of either its new work waits (reason `budget`) until the month ends or the budget is raised.
public struct Budget: Sendable, Hashable {
    public var monthly: Double?
    public var gpuHours: Double?
    /// The share of the budget at which the team is warned (default 0.8).
    public var warnAt: Double = 0.8
    /// Over the budget, the team's running training and batch jobs are preempted too (back to the queue, to resume
    /// from their last checkpoint when the budget allows); services and agents go on. Default: running work goes on.
    public var stopPreemptible = false
    public init(monthly: Double? = nil, gpuHours: Double? = nil, warnAt: Double = 0.8) {
        self.monthly = monthly
        self.gpuHours = gpuHours
        self.warnAt = warnAt
    }
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

/// What an environment asks of a model version before it serves there (its `promotion`), and who may promote one.
/// The environment's alias (its name unless said otherwise) is protected: only a promotion that passes every gate moves it.
public struct PromotionContract: Sendable, Hashable {
    /// The alias a promotion to this environment moves.
    public var alias: String
    /// Who may promote: `role:admin`, `team:NAME`; empty: admins and the members of the model's team.
    public var promoters: [String] = []
    /// The version must carry a signature over its manifest that verifies with one of `trustedKeys`.
    public var requireSignature = false
    /// Public keys (PEM, P-256) by name.
    public var trustedKeys: [String: String] = [:]
    /// The version must name an owner.
    public var requireOwner = false
    /// Someone other than the version's author must have approved it (`tarmac model approve`).
    public var requireReview = false
    /// The version the alias points at now must be serving (an InferenceService of this environment runs it), so that a
    /// rollback is a routing change, not a cold start.
    public var requireWarmRollback = false
    /// A rollout to the version must gate on analysis rules (checked when a rollout starts).
    public var requireAnalysis = false
    public var origin = Origin.unknown
    public init(alias: String) { self.alias = alias }
}

public struct Environment: Sendable, Hashable {
    public var name: String
    public var guardrails = Guardrails()
    public var promotion: PromotionContract?
    /// What happens to a workload of a class whose GPUs stay idle here (none: nothing).
    public var idle: [WorkloadClass: IdlePolicy] = [:]
    public var overlay: String?
    public var origin = Origin.unknown
    public init(name: String) { self.name = name }
}

/// What is done about a workload whose GPUs idle: judged on their utilization (not on its processes' activity), below
/// `gpuUtilizationBelow` percent for `duration`, its team is notified; unless it is used again within `grace`, `action`
/// follows (`notify`: nothing more).
public struct IdlePolicy: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// Only tell the team (audit, metric, the workload's message).
        case notify
        /// An inference service gives its GPUs back and comes back on its next request through the inference gateway.
        case scaleToZero
        /// The workload is stopped (cancelled, cause Idle).
        case stop
    }
    public var gpuUtilizationBelow: Double
    public var duration: TimeSpan
    public var action: Action
    public var grace: TimeSpan
    public var origin = Origin.unknown
    public init(gpuUtilizationBelow: Double, duration: TimeSpan, action: Action, grace: TimeSpan) {
        self.gpuUtilizationBelow = gpuUtilizationBelow
        self.duration = duration
        self.action = action
        self.grace = grace
    }
}

/// A tool agents may call, with the scopes it understands, and how Tarmac's tool gateway reaches and guards it.
public struct Tool: Sendable, Hashable {
    public var name: String
    public var endpoint: String
    public var cidr: String?
    public var port: Int?
    public var scopes: [String] = []
    /// Scopes that change or expose data; an agent holding one must act on behalf of a person.
    public var sensitiveScopes: [String] = []
    public var description: String?
    /// Where the gateway forwards calls (nil: the tool is not served by the gateway).
    public var upstream: String?
    /// The gateway's own credential for the upstream, by name: an environment variable of `tarmac up` holding a bearer
    /// token with the local backend; on Kubernetes, a key of Secret `tarmac-system/tarmac-gateway`. Never the caller's token.
    public var upstreamCredential: String?
    /// Which scope each route needs, first match wins; a call no route matches is refused.
    public var routes: [ToolRoute] = []
    /// MCP over streamable HTTP: the JSON-RPC path and, per MCP tool, the scope `tools/call` needs.
    public var mcp: MCPRules?
    /// Per scope: whether a grant needs approval, by whom, and how long it lasts.
    public var grants: [String: GrantRule] = [:]
    /// Each token is accepted once (its `jti` is remembered until it expires).
    public var oneTimeTokens = false
    /// Calls per second allowed per agent and per person (0: unlimited).
    public var rateLimit: Double = 0
    public var origin = Origin.unknown
    public init(name: String, endpoint: String) {
        self.name = name
        self.endpoint = endpoint
    }

    /// The rule for a scope: its own, or approval by admins for a sensitive scope, none for others.
    public func grantRule(for scope: String) -> GrantRule {
        if let r = grants[scope] { return r }
        return sensitiveScopes.contains(scope) ? GrantRule(approvers: "role:admin", maxLifetime: nil) : GrantRule(approvers: nil, maxLifetime: nil)
    }
}

/// One route of a tool: a path prefix, the methods (empty: any) and the scope a call needs.
public struct ToolRoute: Sendable, Hashable {
    public var path: String
    public var methods: [String]
    public var scope: String
    public init(path: String, methods: [String], scope: String) {
        self.path = path
        self.methods = methods
        self.scope = scope
    }
}

/// What the gateway understands of a tool that speaks MCP over streamable HTTP.
public struct MCPRules: Sendable, Hashable {
    /// The path JSON-RPC requests are posted to.
    public var path: String
    /// Per MCP tool name: the scope that lists and calls it, and allowed argument values where declared.
    public var tools: [String: MCPToolRule]
    public init(path: String, tools: [String: MCPToolRule]) {
        self.path = path
        self.tools = tools
    }
}

public struct MCPToolRule: Sendable, Hashable {
    public var scope: String
    /// Per argument: the values a call may pass (a call with another value, or without the argument, is refused).
    public var arguments: [String: [String]]
    public init(scope: String, arguments: [String: [String]] = [:]) {
        self.scope = scope
        self.arguments = arguments
    }
}

/// Whether a grant of one scope needs approval, by whom, and its longest lifetime.
public struct GrantRule: Sendable, Hashable {
    /// `role:admin` or `team:NAME` (its members); nil: granted when the agent is submitted.
    public var approvers: String?
    /// Nil: until the agent ends.
    public var maxLifetime: TimeSpan?
    public init(approvers: String?, maxLifetime: TimeSpan?) {
        self.approvers = approvers
        self.maxLifetime = maxLifetime
    }
}

/// The `metrics` section: a Prometheus that rollouts' analysis reads (PromQL over its HTTP API), and the queries, with
/// `$team`, `$service`, `$version`, `$namespace` and `$window` filled in. Unset queries ask for Tarmac's own inference
/// gateway metrics, which that Prometheus scrapes.
public struct MetricsSettings: Sendable, Hashable {
    public var prometheus: String?
    /// Where GPU telemetry is read on Kubernetes (nil: dcgm-exporter's usual labels, port 9400, every 10s).
    public var dcgmExporter: DCGMExporterSettings?
    /// By measure: `requests`, `errors`, `modelErrors`, `p99LatencyMs`, `ttftMs`.
    public var queries: [String: String] = [:]
    public var origin = Origin.unknown
    public init() {}

    public static let measures = ["requests", "errors", "modelErrors", "p99LatencyMs", "ttftMs"]
}

/// dcgm-exporter's pods (one per GPU node), read through the API server's pod proxy.
public struct DCGMExporterSettings: Sendable, Hashable {
    /// Label selectors tried in turn (the GPU operator's, then the Helm chart's).
    public var selectors: [String] = ["app=nvidia-dcgm-exporter", "app.kubernetes.io/name=dcgm-exporter"]
    /// nil: every namespace.
    public var namespace: String?
    public var port: Int = 9400
    public var every = TimeSpan(seconds: 10)
    public var origin = Origin.unknown
    public init() {}
}

/// The `identity` section: the trust domain and how long credentials live.
public struct IdentitySettings: Sendable, Hashable {
    /// Nil: made from the platform's name.
    public var trustDomain: String?
    /// Lifetime of a JWT-SVID.
    public var svidLifetime = TimeSpan(seconds: 300)
    /// The longest lifetime of a token issued by exchange.
    public var maxTokenLifetime = TimeSpan(seconds: 900)
    /// How often signing keys rotate.
    public var keyRotation = TimeSpan(seconds: 86_400)
    public var origin = Origin.unknown
    public init() {}
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
    /// The clusters whose team namespaces hold its claim (empty: every cluster): a workload mounting it runs there.
    public var clusters: [String] = []
    public var origin = Origin.unknown
    public init(name: String, claim: String) {
        self.name = name
        self.claim = claim
    }
}

/// The `preemption` section.
public struct Preemption: Sendable, Hashable {
    /// Priorities whose workloads never preempt (Kubernetes' `preemptionPolicy: Never`): they keep their place in the
    /// order, ahead of lower priorities, but wait for capacity or quota to free up. Others may still preempt them.
    public var nonPreempting: [String] = []
    public init() {}

    /// Whether a workload of this priority (by name; nil: none named) may preempt others.
    public func preempts(priority: String?) -> Bool { priority.map { !nonPreempting.contains($0) } ?? true }
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

extension Platform {
    /// The size a workload asks for, in its class's table (nil: there is none). The one lookup of a workload's size:
    /// the validator reports a miss, the plan (`WorkloadPlan`) keeps the hit, and everything after reads the plan.
    public func size(for w: Workload) -> Size? { sizes[w.workloadClass]?[w.size] }
}
