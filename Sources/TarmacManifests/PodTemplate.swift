import TarmacModel

/// The pod template every workload kind shares: Pod Security `restricted`, resources from the size
/// (requests = limits), the size's pools as node constraints and tolerations, shm and dataset volumes.
public struct PodTemplate {
    public let workload: Workload
    public let size: Size
    public let platform: Platform
    /// The environment every pod of the workload gets (the document's variables, then Tarmac's: `PodEnvironment` in
    /// TarmacKinds writes it), before what its kind adds.
    public var environment: [(name: String, value: String)]
    public var extraEnv: [KValue] = []
    public var extraVolumes: [KValue] = []
    public var extraMounts: [KValue] = []
    public var extraLabels: [String: String] = [:]
    public var ports: [KValue] = []
    public var readinessProbe: KValue?
    public var restartPolicy: String?
    public var subdomain: String?
    public var affinityExtra: [String: KValue] = [:]
    public var containerName = "main"

    public init(workload: Workload, size: Size, platform: Platform, environment: [(name: String, value: String)]) {
        self.workload = workload
        self.size = size
        self.platform = platform
        self.environment = environment
    }

    var namespace: String { Naming.namespace(team: workload.metadata.team, env: workload.metadata.env) }

    static let podSecurity: KValue = [
        "runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
        "seccompProfile": ["type": "RuntimeDefault"],
    ]
    public static let containerSecurity: KValue = [
        "allowPrivilegeEscalation": false, "runAsNonRoot": true,
        "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
    ]

    /// Requests equal limits for every resource (Guaranteed QoS; for GPU pods memory limit = request by rule).
    static func resources(_ size: Size, _ p: Platform) -> KValue {
        var r: [String: KValue] = ["cpu": .string(size.cpu.description), "memory": .string(size.memory.description)]
        if let e = size.ephemeralStorage { r["ephemeral-storage"] = .string(e.description) }
        if size.usesGPU, let a = size.accelerator.flatMap({ p.accelerators[$0] }) {
            if size.gpus.isFractional, let sharing = a.sharing {
                r[a.sharedResource] = .string("\(size.gpus.thousandths * sharing.maxPerGPU / 1000)")
            } else {
                r[a.resource] = .string("\(size.gpus.wholeGPUs)")
            }
        }
        return ["requests": .object(r), "limits": .object(r)]
    }

    var labels: [String: String] {
        var l = Naming.labels(for: workload)
        for d in workload.egress { l[Naming.egressLabelPrefix + d] = "true" }
        for (k, v) in extraLabels { l[k] = v }
        return l
    }

    var priorityClassName: String? {
        (workload.priority ?? platform.defaults.priority[workload.workloadClass]).map(Naming.priorityClass)
    }

    /// The audience of the projected service-account token pods attest with, and where it is mounted.
    public static let identityAudience = "tarmac"
    public static let identityMountPath = "/var/run/secrets/tarmac.dev/identity"

    public func template() -> KValue {
        var env: [KValue] = environment.map { ["name": .string($0.name), "value": .string($0.value)] }
        env += extraEnv

        var mounts = extraMounts + [["name": "tarmac-identity", "mountPath": .string(Self.identityMountPath), "readOnly": true]]
        var volumes = extraVolumes + [["name": "tarmac-identity", "projected": ["sources": [[
            "serviceAccountToken": ["audience": .string(Self.identityAudience), "expirationSeconds": 600, "path": "token"],
        ]]]]]
        if let shm = size.shm {
            volumes.append(["name": "dshm", "emptyDir": ["medium": "Memory", "sizeLimit": .string(shm.description)]])
            mounts.append(["name": "dshm", "mountPath": "/dev/shm"])
        }
        for d in workload.datasets {
            let ds = platform.datasets[d.name]
            volumes.append(["name": .string("data-\(d.name)"),
                            "persistentVolumeClaim": ["claimName": .string(ds?.claim ?? d.name), "readOnly": .bool(ds?.readOnly ?? true)]])
            mounts.append(["name": .string("data-\(d.name)"), "mountPath": .string(d.mountPath), "readOnly": .bool(ds?.readOnly ?? true)])
        }

        let image = ImageReference(workload.image).map { $0.isPinnedByDigest || $0.tag != nil ? qualified($0) : workload.image } ?? workload.image
        var container: [String: KValue] = [
            "name": .string(containerName),
            "image": .string(image),
            "env": .list(env),
            "resources": PodTemplate.resources(size, platform),
            "securityContext": PodTemplate.containerSecurity,
        ]
        if !workload.command.isEmpty { container["command"] = .strings(workload.command) }
        if !workload.args.isEmpty { container["args"] = .strings(workload.args) }
        if !mounts.isEmpty { container["volumeMounts"] = .list(mounts) }
        if !ports.isEmpty { container["ports"] = .list(ports) }
        if let readinessProbe { container["readinessProbe"] = readinessProbe }

        var spec: [String: KValue] = [
            "serviceAccountName": .string(workload.metadata.name),
            "automountServiceAccountToken": false,
            "securityContext": PodTemplate.podSecurity,
            "containers": [.object(container)],
            "enableServiceLinks": false,
        ]
        if let restartPolicy { spec["restartPolicy"] = .string(restartPolicy) }
        if let subdomain { spec["subdomain"] = .string(subdomain) }
        if !volumes.isEmpty { spec["volumes"] = .list(volumes) }
        if let pc = priorityClassName { spec["priorityClassName"] = .string(pc) }
        let (selector, nodeAffinity, tolerations) = scheduling()
        if !selector.isEmpty { spec["nodeSelector"] = .stringMap(selector) }
        var affinity = affinityExtra
        if let nodeAffinity { affinity["nodeAffinity"] = nodeAffinity }
        if !affinity.isEmpty { spec["affinity"] = .object(affinity) }
        if !tolerations.isEmpty { spec["tolerations"] = .list(tolerations) }

        var annotations: [String: KValue] = ["tarmac.dev/size": .string(size.reference)]
        if let owner = workload.metadata.owner { annotations["tarmac.dev/owner"] = .string(owner) }
        return ["metadata": ["labels": .stringMap(labels), "annotations": .object(annotations)], "spec": .object(spec)]
    }

    /// Fully qualified image, so in-cluster registry rules match what runs (`python:3.12` -> `docker.io/library/python:3.12`).
    func qualified(_ i: ImageReference) -> String {
        var s = i.registry + "/" + i.repository
        if let t = i.tag { s += ":" + t }
        if let d = i.digest { s += "@" + d }
        return s
    }

    /// Node constraints from the size's pools: one pool gives a nodeSelector, several give node affinity terms (any of them).
    func scheduling() -> ([String: String], KValue?, [KValue]) {
        let pools = platform.pools(for: size).filter { $0.canHost(size) }
        var product: [String: String] = [:]
        if size.usesGPU, let p = size.accelerator.flatMap({ platform.accelerators[$0] })?.product { product["nvidia.com/gpu.product"] = p }
        var tolerations: [KValue] = []
        var seen = Set<String>()
        for pool in pools {
            for t in pool.taints {
                let key = "\(t.key)|\(t.value ?? "")|\(t.effect)"
                guard seen.insert(key).inserted else { continue }
                tolerations.append(t.value.map { v in ["key": .string(t.key), "operator": "Equal", "value": .string(v), "effect": .string(t.effect)] }
                                   ?? ["key": .string(t.key), "operator": "Exists", "effect": .string(t.effect)])
            }
        }
        if pools.count <= 1 || pools.contains(where: { $0.nodeSelector.isEmpty }) {
            let sel = pools.count == 1 ? pools[0].nodeSelector.merging(product) { a, _ in a } : product
            return (sel, nil, tolerations)
        }
        let terms: [KValue] = pools.map { pool in
            let exprs: [KValue] = pool.nodeSelector.merging(product) { a, _ in a }.sorted { $0.key < $1.key }
                .map { ["key": .string($0.key), "operator": "In", "values": [.string($0.value)]] }
            return ["matchExpressions": .list(exprs)]
        }
        return ([:], ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": .list(terms)]], tolerations)
    }
}

