import TarmacContract
import TarmacModel

/// The platform as cluster objects: per team and environment a Namespace (Pod Security `restricted`),
/// ResourceQuota, LimitRange and network policies; PriorityClasses; admission policies that enforce the
/// contract inside the cluster; with `--kueue`, Kueue's queues and flavors.
public enum PlatformRenderer {
    public static func render(_ contract: Contract, options: RenderOptions = RenderOptions()) -> [KubeObject] {
        let base = contract.platform
        var objects: [KubeObject] = []
        // The control plane runs here, and with it the tool gateway: agents' network policies let them reach this
        // namespace (labelled tarmac.dev/gateway=true) for tools it serves, and not the tools themselves.
        objects.append(systemNamespace(contract))
        for env in base.environments.keys.sorted() {
            let p = contract.resolve(env: env).platform
            for team in base.teams.values.sorted(by: { $0.name < $1.name }) {
                objects += namespace(team: team, env: p.environments[env]!, platform: p)
            }
        }
        for (name, value) in base.priorities.sorted(by: { $0.key < $1.key }) {
            objects.append(KubeObject("scheduling.k8s.io/v1", "PriorityClass", name: Naming.priorityClass(name), labels: Naming.base(), body: [
                "value": .int(value),
                "globalDefault": false,
                // Tarmac decides preemption (whole gangs, least lost work); the kube-scheduler must not.
                "preemptionPolicy": "Never",
                "description": .string("Tarmac priority '\(name)'"),
            ]))
        }
        objects += AdmissionPolicies.render(contract, controllerUser: options.controllerUser)
        objects += ControllerAccess.render(contract, controllerUser: options.controllerUser)
        if options.kueue { objects += KueueRenderer.render(contract) }
        return objects.sortedByPath()
    }

    /// The control plane's namespace (Pod Security `restricted`; reachable by agents when the gateway serves tools).
    public static func systemNamespace(_ contract: Contract) -> KubeObject {
        var system = podSecurity(Naming.base())
        if contract.platform.tools.values.contains(where: { $0.upstream != nil }) { system[Naming.gatewayNamespaceLabel] = "true" }
        return KubeObject("v1", "Namespace", name: Naming.systemNamespace, labels: system)
    }

    static func podSecurity(_ labels: [String: String]) -> [String: String] {
        var l = labels
        for mode in ["enforce", "audit", "warn"] {
            l["pod-security.kubernetes.io/\(mode)"] = "restricted"
            l["pod-security.kubernetes.io/\(mode)-version"] = "latest"
        }
        return l
    }

    static func namespace(team: Team, env: Environment, platform p: Platform) -> [KubeObject] {
        let ns = Naming.namespace(team: team.name, env: env.name)
        let labels = Naming.base(team: team.name, env: env.name)
        var out: [KubeObject] = []
        out.append(KubeObject("v1", "Namespace", name: ns, labels: podSecurity(labels)))

        // ResourceQuota: a backstop at the most the team could ever hold (nominal plus what it may borrow).
        // Tarmac's own admission is exact; this stops anything that bypasses it.
        var hard: [String: KValue] = [:]
        var gpusByResource: [String: Int] = [:]
        var sharedByResource: [String: Int] = [:]
        for (accel, amount) in team.quota.gpus {
            guard let a = p.accelerators[accel] else { continue }
            let ceiling = amount.thousandths + borrowable(team, accel, p)
            let whole = (ceiling + 999) / 1000
            gpusByResource[a.resource, default: 0] += whole
            if let s = a.sharing { sharedByResource[a.sharedResource, default: 0] += whole * s.maxPerGPU }
        }
        for (r, n) in gpusByResource { hard["requests.\(r)"] = .string("\(n)") }
        for (r, n) in sharedByResource { hard["requests.\(r)"] = .string("\(n)") }
        if let cpu = team.quota.cpu {
            let c = CPUQuantity(millis: cpu.millis + borrowableCPU(team, p)).description
            hard["requests.cpu"] = .string(c)
            hard["limits.cpu"] = .string(c)
        }
        if let mem = team.quota.memory {
            let m = ByteQuantity(bytes: mem.bytes + borrowableMemory(team, p)).description
            hard["requests.memory"] = .string(m)
            hard["limits.memory"] = .string(m)
        }
        if !hard.isEmpty {
            out.append(KubeObject("v1", "ResourceQuota", name: "tarmac-quota", namespace: ns, labels: labels, body: ["spec": ["hard": .object(hard)]]))
        }

        let maxCPU = p.pools.values.map(\.cpuPerNode).max() ?? CPUQuantity(cores: 1)
        let maxMemory = p.pools.values.map(\.memoryPerNode).max() ?? ByteQuantity.gibibytes(1)
        out.append(KubeObject("v1", "LimitRange", name: "tarmac-limits", namespace: ns, labels: labels, body: ["spec": ["limits": [[
            "type": "Container",
            "default": ["cpu": "500m", "memory": "512Mi"],
            "defaultRequest": ["cpu": "500m", "memory": "512Mi"],
            "max": ["cpu": .string(maxCPU.description), "memory": .string(maxMemory.description)],
        ]]]]))

        out.append(KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "default-deny", namespace: ns, labels: labels, body: ["spec": [
            "podSelector": [:], "policyTypes": ["Ingress", "Egress"],
        ]]))
        out.append(KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "allow-dns", namespace: ns, labels: labels, body: ["spec": [
            "podSelector": [:], "policyTypes": ["Egress"],
            "egress": [[
                "to": [["namespaceSelector": ["matchLabels": ["kubernetes.io/metadata.name": "kube-system"]],
                        "podSelector": ["matchLabels": ["k8s-app": "kube-dns"]]]],
                "ports": [["port": 53, "protocol": "UDP"], ["port": 53, "protocol": "TCP"]],
            ]],
        ]]))
        // Workers of a gang talk to each other; agents are excluded and reach only their tools.
        let notAgents: KValue = ["matchExpressions": [["key": .string(Naming.kindLabel), "operator": "NotIn", "values": ["agent"]]]]
        out.append(KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "allow-same-namespace", namespace: ns, labels: labels, body: ["spec": [
            "podSelector": notAgents, "policyTypes": ["Ingress", "Egress"],
            "ingress": [["from": [["podSelector": notAgents]]]],
            "egress": [["to": [["podSelector": notAgents]]]],
        ]]))
        // Each destination the environment allows, for the pods that declared it (label egress.tarmac.dev/NAME=true).
        for d in env.guardrails.allowedEgress.sorted() {
            guard let dest = p.destinations[d] else { continue }
            var rule: [String: KValue] = ["to": [["ipBlock": ["cidr": .string(dest.cidr)]]]]
            if !dest.ports.isEmpty { rule["ports"] = .list(dest.ports.map { ["port": .int($0), "protocol": "TCP"] }) }
            out.append(KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "egress-\(d)", namespace: ns, labels: labels, body: ["spec": [
                "podSelector": ["matchLabels": [.init(stringLiteral: Naming.egressLabelPrefix + d): "true"]],
                "policyTypes": ["Egress"],
                "egress": [.object(rule)],
            ]]))
        }
        return out
    }

    /// GPU thousandths a team may borrow from its cohort: its borrowing limit for that resource if it sets one
    /// (a resource not listed is not limited, as in Kueue), else everything the other teams lend.
    static func borrowable(_ team: Team, _ accel: String, _ p: Platform) -> Int {
        guard let cohort = team.cohort else { return 0 }
        if let limit = team.borrowingLimit?.gpus[accel] { return limit.thousandths }
        return p.teams.values.filter { $0.cohort == cohort && $0.name != team.name }
            .map { other in min(other.quota.gpus[accel]?.thousandths ?? 0, other.lendingLimit?.gpus[accel]?.thousandths ?? Int.max) }
            .reduce(0, +)
    }

    static func borrowableCPU(_ team: Team, _ p: Platform) -> Int64 {
        guard let cohort = team.cohort else { return 0 }
        if let limit = team.borrowingLimit?.cpu { return limit.millis }
        return p.teams.values.filter { $0.cohort == cohort && $0.name != team.name }.map { $0.quota.cpu?.millis ?? 0 }.reduce(0, +)
    }

    static func borrowableMemory(_ team: Team, _ p: Platform) -> Int64 {
        guard let cohort = team.cohort else { return 0 }
        if let limit = team.borrowingLimit?.memory { return limit.bytes }
        return p.teams.values.filter { $0.cohort == cohort && $0.name != team.name }.map { $0.quota.memory?.bytes ?? 0 }.reduce(0, +)
    }
}
