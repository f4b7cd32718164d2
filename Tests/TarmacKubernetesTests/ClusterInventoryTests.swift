import TarmacCore
import Foundation
import Testing
import TarmacKubernetesBackend
import TarmacRuntime

/// Nodes become the engine's inventory: by pool selector, without cordoned, unready or foreign-tainted nodes, less what
/// pods Tarmac did not create hold.
@Suite struct ClusterInventoryTests {
    static func node(_ name: String, labels: [String: String], cpu: String, memory: String, gpus: String? = nil, ready: Bool = true,
                     cordoned: Bool = false, taints: [[String: String]] = []) -> [String: Any] {
        var allocatable = ["cpu": cpu, "memory": memory, "pods": "110"]
        if let gpus { allocatable["nvidia.com/gpu"] = gpus }
        var spec: [String: Any] = ["taints": taints]
        if cordoned { spec["unschedulable"] = true }
        return ["metadata": ["name": name, "labels": labels], "spec": spec,
                "status": ["allocatable": allocatable, "conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]]
    }

    static func pod(_ node: String, tarmac: Bool = false, phase: String = "Running", containers: [[String: String]], initContainers: [[String: String]] = []) -> [String: Any] {
        var labels: [String: String] = ["app": "x"]
        if tarmac { labels["tarmac.dev/workload-id"] = "wl-1" }
        func c(_ r: [String: String]) -> [String: Any] { ["name": "c", "resources": ["requests": r]] }
        return ["metadata": ["name": "p-\(UUID().uuidString.prefix(6))", "namespace": "default", "labels": labels],
                "spec": ["nodeName": node, "containers": containers.map(c), "initContainers": initContainers.map(c)],
                "status": ["phase": phase]]
    }

    @Test func aSharedAcceleratorCountsWholeGPUsOfFreeSlices() {
        // L4s shared four ways (time-slicing advertises nvidia.com/gpu.shared): 16 slices are 4 GPUs; a foreign pod
        // holding 3 slices leaves 13, which is 3 whole GPUs' worth for the engine to place fractions on.
        var node = Self.node("l4-a", labels: ["tarmac.dev/pool": "serve-l4", "nvidia.com/gpu.product": "NVIDIA-L4"], cpu: "48", memory: "192Gi",
                             taints: [["key": "nvidia.com/gpu", "effect": "NoSchedule"]])
        var status = node["status"] as! [String: Any]
        var allocatable = status["allocatable"] as! [String: String]
        allocatable["nvidia.com/gpu.shared"] = "16"
        status["allocatable"] = allocatable
        node["status"] = status
        let free = ClusterInventory.compute(nodes: [node], pods: [], platform: BackendSupport.contract.platform).nodes
        #expect(free.first?.gpus == 4 && free.first?.accelerator == "l4", "\(free)")
        let used = ClusterInventory.compute(nodes: [node], pods: [Self.pod("l4-a", containers: [["cpu": "1", "memory": "1Gi", "nvidia.com/gpu.shared": "3"]])],
                                            platform: BackendSupport.contract.platform).nodes
        #expect(used.first?.gpus == 3, "\(used)")
    }

    @Test func nodesMapToPoolsAndForeignPodsTakeCapacity() {
        let gpuTaint = [["key": "nvidia.com/gpu", "effect": "NoSchedule"]]
        let nodes = [
            Self.node("h100-a", labels: ["tarmac.dev/pool": "train-h100", "topology.kubernetes.io/zone": "z1"], cpu: "96", memory: "1000Gi", gpus: "8", taints: gpuTaint),
            Self.node("h100-b", labels: ["tarmac.dev/pool": "train-h100"], cpu: "96", memory: "1000Gi", gpus: "8", cordoned: true, taints: gpuTaint),
            Self.node("h100-c", labels: ["tarmac.dev/pool": "train-h100"], cpu: "96", memory: "1000Gi", gpus: "8", ready: false, taints: gpuTaint),
            Self.node("cpu-tainted", labels: ["tarmac.dev/pool": "cpu"], cpu: "4", memory: "16Gi", taints: [["key": "dedicated", "value": "db", "effect": "NoSchedule"]]),
            Self.node("control-plane", labels: ["node-role.kubernetes.io/control-plane": ""], cpu: "4", memory: "16Gi"),
            Self.node("cpu-a", labels: ["tarmac.dev/pool": "cpu"], cpu: "3800m", memory: "16417820Ki"),
        ]
        let pods = [
            Self.pod("h100-a", containers: [["cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"]]),
            Self.pod("h100-a", tarmac: true, containers: [["cpu": "40", "memory": "400Gi", "nvidia.com/gpu": "4"]]),
            Self.pod("h100-a", phase: "Succeeded", containers: [["cpu": "10", "nvidia.com/gpu": "1"]]),
            Self.pod("cpu-a", containers: [["cpu": "500m", "memory": "100Mi"], ["cpu": "250m", "memory": "100Mi"]], initContainers: [["cpu": "2", "memory": "50Mi"]]),
        ]
        let r = ClusterInventory.compute(nodes: nodes, pods: pods, platform: BackendSupport.contract.platform)
        #expect(r.nodes.map(\.name) == ["cpu-a", "h100-a"])
        let h = r.nodes[1]
        #expect(h.gpus == 6, "two of eight GPUs are held by a pod Tarmac did not create; its own pods are the engine's to count")
        #expect(h.cpuMilli == 92_000)
        #expect(h.memoryMiB == (1000 << 10) - (8 << 10))
        #expect(h.accelerator == "h100")
        #expect(h.pool == "train-h100")
        #expect(h.domain == "z1")
        let c = r.nodes[0]
        #expect(c.cpuMilli == 3800 - 2000, "an init container larger than the containers' sum counts instead of it")
        #expect(c.memoryMiB == Int((Int64(16_417_820) * 1024 - 200 * 1_048_576) >> 20))
        #expect(c.gpus == 0 && c.accelerator == nil && c.pool == "cpu")
        #expect(r.excluded["h100-b"] == "cordoned")
        #expect(r.excluded["h100-c"] == "not Ready")
        #expect(r.excluded["control-plane"] == "matches no pool's nodeSelector")
        #expect(r.excluded["cpu-tainted"]?.contains("dedicated=db:NoSchedule") == true)
    }

    @Test func withoutPoolsEveryReadyNodeCountsAndTheProductLabelNamesTheGPU() {
        var platform = BackendSupport.contract.platform
        platform.pools = [:]
        let nodes = [Self.node("n1", labels: ["nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"], cpu: "8", memory: "32Gi", gpus: "4"),
                     Self.node("n2", labels: [:], cpu: "2", memory: "4Gi")]
        let r = ClusterInventory.compute(nodes: nodes, pods: [], platform: platform)
        #expect(r.nodes.map(\.name) == ["n1", "n2"])
        #expect(r.nodes[0].accelerator == "h100" && r.nodes[0].gpus == 4 && r.nodes[0].pool == nil)
        #expect(r.nodes[1].gpus == 0)
    }
}
