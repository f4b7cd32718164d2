import TarmacCore
import TarmacManifests
import TarmacPlanning
import TarmacModel

/// What Tarmac may place on, from the cluster's nodes and pods. Pure: the same objects give the same inventory.
///
/// A node counts when it is Ready, not cordoned, and carries no NoSchedule/NoExecute taint its pool does not tolerate.
/// It belongs to the first pool (by name, pools without a selector last) whose selector its labels match; when the contract
/// has pools, nodes of none are not Tarmac's. Its capacity is its allocatable CPU, memory and GPUs minus what pods Tarmac did not create request on it.
public enum ClusterInventory {
    public struct Result: Sendable, Equatable {
        public var nodes: [NodeInventory]
        /// Nodes left out, with why (for logs and `tarmac up`'s banner).
        public var excluded: [String: String]
    }

    public static func compute(nodes: [[String: Any]], pods: [[String: Any]], platform: Platform) -> Result {
        var foreign: [String: (cpu: Int64, memory: Int64, gpus: [String: Int64])] = [:]
        for pod in pods {
            guard let node = pod["spec"].dict?["nodeName"] as? String, !node.isEmpty, !isTarmac(pod), !isFinished(pod) else { continue }
            let r = requests(of: pod)
            var f = foreign[node] ?? (0, 0, [:])
            f.cpu += r.cpu
            f.memory += r.memory
            for (k, v) in r.other { f.gpus[k, default: 0] += v }
            foreign[node] = f
        }
        // Pools with a selector are tried first (by name); a pool without one takes any node the others do not.
        let pools = platform.pools.values.sorted { ($0.nodeSelector.isEmpty ? 1 : 0, $0.name) < ($1.nodeSelector.isEmpty ? 1 : 0, $1.name) }
        var out: [NodeInventory] = []
        var excluded: [String: String] = [:]
        for node in nodes {
            let meta = node["metadata"].dict ?? [:]
            guard let name = meta["name"] as? String else { continue }
            let labels = meta["labels"] as? [String: String] ?? [:]
            let spec = node["spec"].dict ?? [:]
            let status = node["status"].dict ?? [:]
            if spec["unschedulable"] as? Bool == true {
                excluded[name] = "cordoned"
                continue
            }
            let ready = (status["conditions"] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
            guard ready else {
                excluded[name] = "not Ready"
                continue
            }
            let pool = pools.first { $0.nodeSelector.allSatisfy { labels[$0.key] == $0.value } }
            if !pools.isEmpty && pool == nil {
                excluded[name] = "matches no pool's nodeSelector"
                continue
            }
            let taints = (spec["taints"] as? [[String: Any]] ?? []).filter { ["NoSchedule", "NoExecute"].contains($0["effect"] as? String ?? "") }
            if let t = taints.first(where: { t in !(pool?.taints ?? []).contains { tolerates($0, t) } }) {
                excluded[name] = "taint \(t["key"] as? String ?? "?")=\(t["value"] as? String ?? ""):\(t["effect"] as? String ?? "") is not one of its pool's"
                continue
            }
            let allocatable = status["allocatable"] as? [String: Any] ?? [:]
            var accelerator = pool?.accelerator
            if accelerator == nil, let product = labels["nvidia.com/gpu.product"] {
                accelerator = platform.accelerators.values.sorted { $0.name < $1.name }.first { $0.product == product }?.name
            }
            let acc = accelerator.flatMap { platform.accelerators[$0] }
            let resource = acc?.resource ?? "nvidia.com/gpu"
            let used = foreign[name] ?? (0, 0, [:])
            let cpu = cpuMillis(allocatable["cpu"]) - used.cpu
            let memory = (bytes(allocatable["memory"]) - used.memory) >> 20
            var gpus = Int(count(allocatable[resource]) - (used.gpus[resource] ?? 0))
            // A shared accelerator (time-slicing) advertises slices, `maxPerGPU` per GPU, under its shared resource:
            // the node has as many GPUs as whole GPUs' worth of slices are free (fractional sizes request slices).
            if let acc, let sharing = acc.sharing, sharing.maxPerGPU > 0, count(allocatable[resource]) == 0, allocatable[acc.sharedResource] != nil {
                let slices = count(allocatable[acc.sharedResource]) - (used.gpus[acc.sharedResource] ?? 0)
                gpus = Int(slices / Int64(sharing.maxPerGPU))
            }
            if accelerator == nil { gpus = 0 }
            out.append(NodeInventory(name: name, cpuMilli: Int(max(0, cpu)), memoryMiB: Int(max(0, memory)), gpus: max(0, gpus),
                                     accelerator: gpus > 0 || pool?.accelerator != nil ? accelerator : nil, pool: pool?.name,
                                     domain: pool?.topologyKey.flatMap { labels[$0] }))
        }
        return Result(nodes: out.sorted { $0.name < $1.name }, excluded: excluded)
    }

    static func tolerates(_ t: Taint, _ taint: [String: Any]) -> Bool {
        t.key == taint["key"] as? String && t.effect == taint["effect"] as? String && (t.value == nil || t.value == taint["value"] as? String)
    }

    /// Created by Tarmac: the engine accounts for it already.
    public static func isTarmac(_ pod: [String: Any]) -> Bool {
        (pod["metadata"].dict?["labels"] as? [String: String])?[Naming.workloadIDLabel] != nil
    }

    static func isFinished(_ pod: [String: Any]) -> Bool {
        let phase = pod["status"].dict?["phase"] as? String
        return phase == "Succeeded" || phase == "Failed"
    }

    /// A pod's effective requests: the larger of its containers' sum and its largest init container.
    static func requests(of pod: [String: Any]) -> (cpu: Int64, memory: Int64, other: [String: Int64]) {
        let spec = pod["spec"].dict ?? [:]
        func sum(_ containers: [[String: Any]]) -> (Int64, Int64, [String: Int64]) {
            var cpu: Int64 = 0, mem: Int64 = 0, other: [String: Int64] = [:]
            for c in containers {
                let r = (c["resources"] as? [String: Any])?["requests"] as? [String: Any] ?? [:]
                cpu += cpuMillis(r["cpu"])
                mem += bytes(r["memory"])
                for (k, v) in r where k != "cpu" && k != "memory" { other[k, default: 0] += count(v) }
            }
            return (cpu, mem, other)
        }
        var (cpu, mem, other) = sum(spec["containers"] as? [[String: Any]] ?? [])
        for c in spec["initContainers"] as? [[String: Any]] ?? [] {
            let (ic, im, io) = sum([c])
            cpu = max(cpu, ic)
            mem = max(mem, im)
            for (k, v) in io { other[k] = max(other[k] ?? 0, v) }
        }
        return (cpu, mem, other)
    }

    static func cpuMillis(_ v: Any?) -> Int64 {
        guard let s = v as? String, case .success(let q) = CPUQuantity.parse(s, allowZero: true) else { return 0 }
        return q.millis
    }

    static func bytes(_ v: Any?) -> Int64 {
        guard let s = v as? String, case .success(let q) = ByteQuantity.parse(s, allowZero: true) else { return 0 }
        return q.bytes
    }

    static func count(_ v: Any?) -> Int64 {
        if let i = v as? Int { return Int64(i) }
        guard let s = v as? String, case .success(let q) = ByteQuantity.parse(s, allowZero: true) else { return 0 }
        return q.bytes
    }
}

extension Optional where Wrapped == Any {
    var dict: [String: Any]? { self as? [String: Any] }
}
