import TarmacModel

/// Builds a typed `Platform` from a merged, checked Platform document.
public enum PlatformDecoder {
    public static func decode(_ document: YNode) -> Platform {
        let spec = document["spec"] ?? YNode(.mapping([]), at: document.location)
        var p = Platform(name: document["metadata"]?.str("name") ?? "platform")
        p.origin = spec.origin()
        for (name, n) in spec.named("accelerators") {
            var a = Accelerator(name: name, resource: n.str("resource") ?? "nvidia.com/gpu")
            a.product = n.str("product")
            a.memory = n.bytes("memory")
            a.interconnect = n.str("interconnect")
            a.hourlyCost = n.double("hourlyCost")
            if let s = n["sharing"], let m = s.int("maxPerGPU") { a.sharing = .init(maxPerGPU: m, resource: s.str("resource")) }
            a.origin = n.origin()
            p.accelerators[name] = a
        }
        for (name, n) in spec.named("pools") {
            var pool = Pool(name: name)
            pool.accelerator = n.str("accelerator")
            pool.gpusPerNode = n.int("gpusPerNode") ?? 0
            pool.cpuPerNode = n.cpu("cpuPerNode") ?? CPUQuantity(millis: 0)
            pool.memoryPerNode = n.bytes("memoryPerNode") ?? ByteQuantity(bytes: 0)
            pool.nodes = n.int("nodes") ?? 0
            pool.nodeSelector = n.stringMap("nodeSelector")
            pool.topologyKey = n.str("topologyKey")
            pool.classes = n.strings("classes").compactMap(WorkloadClass.init(rawValue:))
            pool.taints = (n["taints"]?.items ?? []).compactMap { t in
                t.str("key").map { Taint(key: $0, value: t.str("value"), effect: t.str("effect") ?? "NoSchedule") }
            }
            pool.hourlyCost = n.double("hourlyCost")
            pool.origin = n.origin()
            p.pools[name] = pool
        }
        p.sizes = decodeSizes(spec["sizes"])
        for (name, n) in spec.named("teams") {
            var t = Team(name: name)
            t.members = n.strings("members")
            t.quota = n["quota"].map(amounts) ?? ResourceAmounts()
            t.cohort = n.str("cohort")
            t.borrowingLimit = n["borrowingLimit"].map(amounts)
            t.lendingLimit = n["lendingLimit"].map(amounts)
            t.weight = n.double("weight") ?? 1
            if let b = n["budget"] {
                t.budget = Budget(monthly: b.double("monthly"), gpuHours: b.double("gpuHours"), warnAt: b.double("warnAt") ?? 0.8)
                t.budget?.stopPreemptible = b.bool("stopPreemptible") ?? false
            }
            t.origin = n.origin()
            p.teams[name] = t
        }
        for e in spec["priorities"]?.entries ?? [] { if let v = e.value.text.flatMap({ Int($0) }) { p.priorities[e.key] = v } }
        if let pre = spec["preemption"] { p.preemption.nonPreempting = pre.strings("nonPreempting") }
        if let d = spec["defaults"] {
            for c in WorkloadClass.allCases { if let v = d["priority"]?.str(c.rawValue) { p.defaults.priority[c] = v } }
            if let c = d.bytes("checkpointStorage") { p.defaults.checkpointStorage = c }
            p.defaults.storageClass = d.str("storageClass")
        }
        for (name, n) in spec.named("environments") {
            var e = Environment(name: name)
            e.overlay = n.str("overlay")
            if let g = n["guardrails"] { e.guardrails = guardrails(g) }
            if let pr = n["promotion"] {
                var c = PromotionContract(alias: pr.str("alias") ?? name)
                c.promoters = pr.strings("promoters")
                c.requireSignature = pr.bool("requireSignature") ?? false
                c.trustedKeys = pr.stringMap("trustedKeys")
                c.requireOwner = pr.bool("requireOwner") ?? false
                c.requireReview = pr.bool("requireReview") ?? false
                c.requireWarmRollback = pr.bool("requireWarmRollback") ?? false
                c.requireAnalysis = pr.bool("requireAnalysis") ?? false
                c.origin = pr.origin()
                e.promotion = c
            }
            for c in WorkloadClass.allCases {
                guard let i = n["idle"]?[c.rawValue] else { continue }
                var policy = IdlePolicy(gpuUtilizationBelow: i.double("gpuUtilizationBelow") ?? 5, duration: i.duration("for") ?? TimeSpan(seconds: 1800),
                                        action: i.str("action").flatMap(IdlePolicy.Action.init(rawValue:)) ?? .notify,
                                        grace: i.duration("grace") ?? TimeSpan(seconds: 600))
                policy.origin = i.origin()
                e.idle[c] = policy
            }
            e.origin = n.origin()
            p.environments[name] = e
        }
        for (name, n) in spec.named("tools") {
            var t = Tool(name: name, endpoint: n.str("endpoint") ?? "")
            t.cidr = n.str("cidr")
            t.port = n.int("port")
            t.scopes = n.strings("scopes")
            t.sensitiveScopes = n.strings("sensitiveScopes")
            t.description = n.str("description")
            t.upstream = n.str("upstream")
            t.upstreamCredential = n.str("upstreamCredential")
            t.routes = (n["routes"]?.items ?? []).compactMap { r in
                r.str("path").map { ToolRoute(path: $0, methods: r.strings("methods").map { $0.uppercased() }, scope: r.str("scope") ?? "") }
            }
            if let m = n["mcp"] {
                var rules: [String: MCPToolRule] = [:]
                for (tool, r) in m.named("tools") {
                    var args: [String: [String]] = [:]
                    for e in r["arguments"]?.entries ?? [] { args[e.key] = e.value.items?.compactMap(\.text) ?? [] }
                    rules[tool] = MCPToolRule(scope: r.str("scope") ?? "", arguments: args)
                }
                t.mcp = MCPRules(path: m.str("path") ?? "/mcp", tools: rules)
            }
            for (scope, g) in n.named("grants") {
                t.grants[scope] = GrantRule(approvers: g.str("approvers"), maxLifetime: g.duration("maxLifetime"))
            }
            t.oneTimeTokens = n.bool("oneTimeTokens") ?? false
            t.rateLimit = n.double("rateLimit") ?? 0
            t.origin = n.origin()
            p.tools[name] = t
        }
        for (name, n) in spec.named("destinations") {
            var d = Destination(name: name, cidr: n.str("cidr") ?? "")
            d.ports = (n["ports"]?.items ?? []).compactMap { $0.text.flatMap { Int($0) } }
            d.description = n.str("description")
            d.origin = n.origin()
            p.destinations[name] = d
        }
        for (name, n) in spec.named("datasets") {
            var d = Dataset(name: name, claim: n.str("claim") ?? name)
            d.readOnly = n.bool("readOnly") ?? true
            d.clusters = n.strings("clusters")
            d.origin = n.origin()
            p.datasets[name] = d
        }
        for n in spec["clusters"]?.items ?? [] {
            let k = n["kubeconfig"]
            let source: KubeconfigSource
            if let ref = k?["secretRef"] {
                source = .secret(name: ref.str("name") ?? "", key: ref.str("key") ?? "kubeconfig")
            } else if k?.bool("inCluster") == true {
                source = .inCluster
            } else {
                // A relative path is relative to the file that names it.
                var path = k?.str("path")
                if let given = path, !given.hasPrefix("/"), let file = k?["path"]?.location.file, file.contains("/") {
                    path = String(file[..<file.lastIndex(of: "/")!]) + "/" + given
                }
                source = .file(path: path, context: k?.str("context"))
            }
            var c = ClusterSpec(name: n.str("name") ?? "", kubeconfig: source)
            c.pools = n.strings("pools")
            c.environments = n.strings("environments")
            c.region = n.str("region")
            c.labels = n.stringMap("labels")
            c.description = n.str("description")
            c.origin = n.origin()
            p.clusters.append(c)
        }
        if let t = spec.duration("clusterLostTimeout") { p.clusterLostTimeout = t }
        if let l = spec["local"] {
            var m = LocalMachine()
            m.cpu = l.cpu("cpu")
            m.memory = l.bytes("memory")
            m.gpus = l.int("gpus")
            m.accelerator = l.str("accelerator")
            m.origin = l.origin()
            p.local = m
        }
        if let i = spec["identity"] {
            p.identity.trustDomain = i.str("trustDomain")
            if let v = i.duration("svidLifetime") { p.identity.svidLifetime = v }
            if let v = i.duration("maxTokenLifetime") { p.identity.maxTokenLifetime = v }
            if let v = i.duration("keyRotation") { p.identity.keyRotation = v }
            p.identity.origin = i.origin()
        }
        if let m = spec["metrics"] {
            p.metrics.prometheus = m.str("prometheus")
            p.metrics.queries = m.stringMap("queries")
            if let d = m["dcgmExporter"] {
                var x = DCGMExporterSettings()
                if let sel = d.str("selector") { x.selectors = [sel] }
                x.namespace = d.str("namespace")
                x.port = d.int("port") ?? 9400
                x.every = d.duration("every") ?? TimeSpan(seconds: 10)
                x.origin = d.origin()
                p.metrics.dcgmExporter = x
            }
            p.metrics.origin = m.origin()
        }
        if let c = spec["costs"] {
            p.costs.cpuCoreHour = c.double("cpuCoreHour")
            p.costs.memoryGiBHour = c.double("memoryGiBHour")
        }
        return p
    }

    static func decodeSizes(_ node: YNode?) -> [WorkloadClass: [String: Size]] {
        var out: [WorkloadClass: [String: Size]] = [:]
        for c in WorkloadClass.allCases {
            for (name, n) in node?.named(c.rawValue) ?? [] {
                var s = Size(workloadClass: c, name: name)
                s.accelerator = n.str("accelerator")
                s.gpus = n.gpus("gpus") ?? .zero
                s.cpu = n.cpu("cpu") ?? CPUQuantity(millis: 0)
                s.memory = n.bytes("memory") ?? ByteQuantity(bytes: 0)
                s.shm = n.bytes("shm")
                s.ephemeralStorage = n.bytes("ephemeralStorage")
                s.topology = n.str("topology").flatMap(Topology.init(rawValue:))
                s.pools = n.strings("pools")
                s.description = n.str("description")
                s.origin = n.origin()
                out[c, default: [:]][name] = s
            }
        }
        return out
    }

    static func guardrails(_ g: YNode) -> Guardrails {
        var r = Guardrails()
        r.allowedRegistries = g.strings("allowedRegistries")
        r.requireSignedImages = g.bool("requireSignedImages") ?? false
        r.requireOwner = g.bool("requireOwner") ?? false
        r.requireRollbackTarget = g.bool("requireRollbackTarget") ?? false
        r.allowedEgress = g.strings("allowedEgress")
        r.maxDuration = g.duration("maxDuration")
        r.origin = g.origin()
        return r
    }

    /// Quota keys are accelerator names (GPUs), `cpu` (cores) or `memory` (bytes).
    static func amounts(_ node: YNode) -> ResourceAmounts {
        var r = ResourceAmounts()
        for e in node.entries ?? [] {
            guard let t = e.value.text else { continue }
            switch e.key {
            case "cpu": r.cpu = try? CPUQuantity.parse(t, allowZero: true).get()
            case "memory": r.memory = try? ByteQuantity.parse(t, allowZero: true).get()
            default: if let g = try? GPUAmount.parse(t).get() { r.gpus[e.key] = g }
            }
        }
        return r
    }
}
