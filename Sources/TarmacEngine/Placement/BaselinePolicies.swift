/// Baselines of the FGD paper (USENIX ATC'23), written from its description and public simulator.

/// Any node that fits, at random (a random score per node); a share goes to a random GPU with room.
public struct RandomPolicy: PlacementPolicy {
    public let name = "Random"
    public init() {}
    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        var pick = ArgMax()
        c.forEachFittingNode(for: pod, filter) { n in pick.offer(Int.random(in: 0..<1_000_000, using: &rng), Placement(node: n), &rng) }
        guard var p = pick.choice else { return nil }
        if pod.isShare {
            var seen = 0
            for g in 0..<Int(c.gpuCount[p.node]) where c.free(p.node, g) >= pod.gpuMilli {
                seen += 1
                if Int.random(in: 0..<seen, using: &rng) == 0 { p.gpus = GPUSet([g]) }
            }
        } else {
            p.gpus = bestFitGPUs(pod, node: p.node, in: c)
        }
        return p
    }
}

/// Scores every node the pod fits on, once per group of nodes in the same state; the best node (lowest index on a tie)
/// gets it, on GPUs chosen by best fit. `score` must depend only on the node's state.
func placeByScore(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64, score: (Int) -> Int) -> Placement? {
    var pick = ArgMax()
    c.forEachCandidate(for: pod, filter, ordered: false) { n in pick.offer(score(n), Placement(node: n), &rng) }
    guard var p = pick.choice else { return nil }
    p.gpus = bestFitGPUs(pod, node: p.node, in: c)
    return p
}

/// Tetris-style alignment: the node whose free (CPU, GPU) vector has the smallest dot product with the request.
public struct DotProductPolicy: PlacementPolicy {
    public let name = "DotProduct"
    public init() {}
    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        let reqCPU = Double(pod.cpuMilli) / Spec.cpu, reqGPU = Double(pod.totalGPUMilli) / Spec.gpu
        return placeByScore(pod, in: c, among: filter, rng: &rng) { n in
            let dot = Double(c.cpuFree[n]) / Spec.cpu * reqCPU + Double(c.totalGPUFree(n)) / Spec.gpu * reqGPU
            return Int(100 * (1 - dot / 2))
        }
    }
}

/// The node with the least CPU and GPU left after placing the pod (equal weights).
public struct BestFitPolicy: PlacementPolicy {
    public let name = "BestFit"
    public init() {}
    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        placeByScore(pod, in: c, among: filter, rng: &rng) { n in
            let left = Double(c.cpuFree[n] - pod.cpuMilli) / Spec.cpu * 0.5 + Double(c.totalGPUFree(n) - pod.totalGPUMilli) / Spec.gpu * 0.5
            return Int((1 - left) * 100)
        }
    }
}

/// Prefer GPUs already in use, then idle GPUs on busy nodes, then idle nodes.
public struct GpuPackingPolicy: PlacementPolicy {
    public let name = "GpuPacking"
    public init() {}
    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        placeByScore(pod, in: c, among: filter, rng: &rng) { n in pod.usesGPU ? score(pod, n, c) : 0 }
    }

    func score(_ pod: PodShape, _ n: Int, _ c: ClusterState) -> Int {
        let gpus = Int(c.gpuCount[n])
        let fullyFree = (0..<gpus).filter { c.free(n, $0) == 1000 }.count
        if fullyFree == gpus { return max(100 / 3 - fullyFree, fullyFree) }
        let order = (0..<gpus).sorted { (c.free(n, $0), $0) < (c.free(n, $1), $1) }
        var need = Int(pod.gpuCount), fullyFreeUsed = 0
        var used: [Int] = []
        for g in order where need > 0 && c.free(n, g) >= pod.gpuMilli {
            need -= 1
            used.append(g)
            if c.free(n, g) == 1000 { fullyFreeUsed += 1 }
        }
        if fullyFreeUsed > 0 { return max(100 / 2 - fullyFreeUsed, 100 / 3) }
        let freeRatio = used.reduce(0) { $0 + Int(c.free(n, $1)) * 100 / 1000 }
        return max(100 - freeRatio / 10, 100 / 2)
    }
}

/// Keep pods with the same GPU request together (share, 1-GPU, 2-GPU, ...), filling nodes that already host them.
public struct GpuClusteringPolicy: PlacementPolicy {
    public let name = "GpuClustering"
    /// Per node, how many pods of each GPU-request kind it hosts.
    var kinds: [Int: [Int: Int]] = [:]
    public init() {}

    static func kind(_ pod: PodShape) -> Int? {
        guard pod.usesGPU else { return nil }
        return pod.isShare ? 0 : Int(pod.gpuCount)
    }

    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        let k = Self.kind(pod)
        let kinds = self.kinds
        // The score depends on what each node hosts, not only on its state: every node is scored.
        var pick = ArgMax()
        c.forEachFittingNode(for: pod, filter) { n in
            var s = 0
            if let k {
                let here = kinds[n] ?? [:]
                let fill = 25 * (8000 - c.totalGPUFree(n)) / 8000
                s = (here[k] ?? 0) > 0 ? (here.count == 1 ? fill + 75 : fill + 50) : (here.isEmpty ? fill + 25 : fill)
            }
            pick.offer(s, Placement(node: n), &rng)
        }
        guard var p = pick.choice else { return nil }
        p.gpus = bestFitGPUs(pod, node: p.node, in: c)
        return p
    }

    public mutating func didPlace(_ pod: PodShape, at p: Placement, in c: ClusterState) {
        if let k = Self.kind(pod) { kinds[p.node, default: [:]][k, default: 0] += 1 }
    }

    public mutating func didRelease(_ pod: PodShape, from p: Placement, in c: ClusterState) {
        guard let k = Self.kind(pod), let n = kinds[p.node]?[k] else { return }
        kinds[p.node]?[k] = n > 1 ? n - 1 : nil
        if kinds[p.node]?.isEmpty == true { kinds[p.node] = nil }
    }
}
