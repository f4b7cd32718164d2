import TarmacContract
import TarmacModel

/// Kueue objects for clusters that already run Kueue: a ResourceFlavor per accelerator (and one for CPU),
/// a ClusterQueue per team with its cohort and limits, a LocalQueue per team namespace, WorkloadPriorityClasses.
public enum KueueRenderer {
    static let api = "kueue.x-k8s.io/v1beta1"

    public static func render(_ contract: Contract) -> [KubeObject] {
        let p = contract.platform
        let labels = Naming.base()
        let noPreemption = !p.priorities.isEmpty && p.priorities.keys.allSatisfy { p.preemption.nonPreempting.contains($0) }
        var out: [KubeObject] = []
        for a in p.accelerators.values.sorted(by: { $0.name < $1.name }) {
            var nodeLabels: [String: String] = [:]
            if let product = a.product { nodeLabels["nvidia.com/gpu.product"] = product }
            let tolerations = p.pools.values.filter { $0.accelerator == a.name }.flatMap(\.taints)
            var spec: [String: KValue] = [:]
            if !nodeLabels.isEmpty { spec["nodeLabels"] = .stringMap(nodeLabels) }
            let t = Array(Set(tolerations)).sorted { ($0.key, $0.effect) < ($1.key, $1.effect) }
            if !t.isEmpty {
                spec["tolerations"] = .list(t.map { ["key": .string($0.key), "operator": $0.value == nil ? "Exists" : "Equal", "effect": .string($0.effect)] })
            }
            out.append(KubeObject(api, "ResourceFlavor", name: a.name, labels: labels, body: ["spec": .object(spec)]))
            if a.sharing != nil {
                out.append(KubeObject(api, "ResourceFlavor", name: "\(a.name)-shared", labels: labels, body: ["spec": .object(spec)]))
            }
        }
        out.append(KubeObject(api, "ResourceFlavor", name: "default", labels: labels, body: ["spec": [:]]))

        for team in p.teams.values.sorted(by: { $0.name < $1.name }) {
            var gpuFlavors: [KValue] = []
            var sharedGroups: [KValue] = []
            var gpuResource: String?
            for a in p.accelerators.values.sorted(by: { $0.name < $1.name }) {
                let nominal = team.quota.gpus[a.name]?.thousandths ?? 0
                gpuResource = gpuResource ?? a.resource
                guard a.resource == gpuResource else { continue }
                gpuFlavors.append(flavor(a.name, resource: a.resource, nominal: (nominal + 999) / 1000,
                                         borrowing: team.borrowingLimit?.gpus[a.name].map { ($0.thousandths + 999) / 1000 },
                                         lending: team.lendingLimit?.gpus[a.name].map { min(($0.thousandths + 999) / 1000, (nominal + 999) / 1000) }))
                if let s = a.sharing {
                    sharedGroups.append(["coveredResources": [.string(a.sharedResource)], "flavors": [
                        flavor("\(a.name)-shared", resource: a.sharedResource, nominal: (nominal + 999) / 1000 * s.maxPerGPU, borrowing: nil, lending: nil),
                    ]])
                }
            }
            var groups: [KValue] = [[
                "coveredResources": ["cpu", "memory"],
                "flavors": [["name": "default", "resources": [
                    resource("cpu", team.quota.cpu?.description ?? "0", borrowing: team.borrowingLimit?.cpu?.description, lending: team.lendingLimit?.cpu?.description),
                    resource("memory", team.quota.memory?.description ?? "0", borrowing: team.borrowingLimit?.memory?.description, lending: team.lendingLimit?.memory?.description),
                ]]],
            ]]
            if let r = gpuResource, !gpuFlavors.isEmpty { groups.append(["coveredResources": [.string(r)], "flavors": .list(gpuFlavors)]) }
            groups += sharedGroups
            var spec: [String: KValue] = [
                "namespaceSelector": ["matchLabels": [.init(stringLiteral: Naming.teamLabel): .string(team.name)]],
                "queueingStrategy": "BestEffortFIFO",
                // Kueue sets preemption per ClusterQueue, not per priority: it is off only when no priority may preempt.
                "preemption": noPreemption ? ["reclaimWithinCohort": "Never", "withinClusterQueue": "Never"]
                    : ["reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"],
                "resourceGroups": .list(groups),
            ]
            if let c = team.cohort { spec["cohort"] = .string(c) }
            out.append(KubeObject(api, "ClusterQueue", name: team.name, labels: Naming.base(team: team.name), body: ["spec": .object(spec)]))
            for env in p.environments.keys.sorted() {
                out.append(KubeObject(api, "LocalQueue", name: Naming.localQueue, namespace: Naming.namespace(team: team.name, env: env),
                                      labels: Naming.base(team: team.name, env: env), body: ["spec": ["clusterQueue": .string(team.name)]]))
            }
        }
        for (name, value) in p.priorities.sorted(by: { $0.key < $1.key }) {
            out.append(KubeObject(api, "WorkloadPriorityClass", name: Naming.priorityClass(name), labels: labels, body: [
                "value": .int(value), "description": .string("Tarmac priority '\(name)'"),
            ]))
        }
        return out
    }

    static func flavor(_ name: String, resource r: String, nominal: Int, borrowing: Int?, lending: Int?) -> KValue {
        ["name": .string(name), "resources": [resource(r, "\(nominal)", borrowing: borrowing.map(String.init), lending: lending.map(String.init))]]
    }

    static func resource(_ name: String, _ nominal: String, borrowing: String?, lending: String?) -> KValue {
        var r: [String: KValue] = ["name": .string(name), "nominalQuota": .string(nominal)]
        if let borrowing { r["borrowingLimit"] = .string(borrowing) }
        if let lending { r["lendingLimit"] = .string(lending) }
        return .object(r)
    }
}
