import Foundation

/// Fragmentation Gradient Descent (Weng et al., USENIX ATC'23): put the pod where the expected fragmentation of the
/// cluster grows least. Faithful to the published simulator: the score is int(100 * sigmoid(-Δ/1000)), so nearby
/// values tie, and ties are broken at random; within a node, the GPU with the best score (first on a tie).
public struct FGDPolicy: PlacementPolicy {
    public let name = "FGD"
    var model: FragmentationModel

    public init(model: FragmentationModel) { self.model = model }

    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        var pick = ArgMax()
        c.forEachCandidate(for: pod, filter, ordered: false) { n in
            var best = Int.min
            var bestGPUs = GPUSet()
            if pod.isShare {
                // Every GPU with room, in index order; the first best wins.
                for g in 0..<Int(c.gpuCount[n]) where c.free(n, g) >= pod.gpuMilli {
                    let d = model.delta(pod, node: n, gpus: GPUSet([g]), in: c)
                    let s = Int(100 / (1 + exp(-(d.before - d.after) / 1000)))
                    if s > best { best = s; bestGPUs = GPUSet([g]) }
                }
            } else {
                bestGPUs = pod.usesGPU ? (c.wholeGPUs(n, count: Int(pod.gpuCount)) ?? GPUSet()) : GPUSet()
                let d = model.delta(pod, node: n, gpus: bestGPUs, in: c)
                best = Int(100 / (1 + exp(-(d.before - d.after) / 1000)))
            }
            pick.offer(best, Placement(node: n, gpus: bestGPUs), &rng)
        }
        return pick.choice
    }
}

/// Tarmac's default policy. It keeps FGD's objective (least growth of expected fragmentation) and changes what FGD gets wrong:
/// - fragmentation counts memory: a node that cannot give a typical pod its memory strands all its idle GPUs for that pod
///   (FGD's model ignores memory, although memory decides whether a pod fits);
/// - growths are compared exactly, and those within `epsilon` (20 thousandths of a GPU) count as equal, instead of a score
///   rounded to whole percents;
/// - equal growths go to the tightest fit: least share left on the chosen GPU (online bin packing of GPU shares), then least
///   idle GPU left on the node, then least CPU left;
/// - GPUs of a node with the same free share are one candidate, so the choice is deterministic.
public struct TarmacPolicy: PlacementPolicy {
    public let name = "Tarmac"
    var model: FragmentationModel
    /// Fragmentation growths closer than this (GPU thousandths) count as equal, and best fit decides.
    public var epsilon: Double

    public init(model: FragmentationModel, epsilon: Double = 0) {
        self.model = model
        self.epsilon = epsilon
    }

    /// What is compared, in order: growth of fragmentation (within epsilon), then the share left on the chosen GPU
    /// (tightest fit), then idle GPU left on the node, then CPU left.
    struct Key {
        var delta: Double
        var slotLeft: Int
        var gpuLeft: Int
        var cpuLeft: Int32
    }

    public mutating func place(_ pod: PodShape, in c: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement? {
        var best: Key?
        var choice: Placement?
        // A candidate's key depends only on the node's state and the free share of the chosen GPU. Nodes in the same
        // exact state are one candidate (their lowest-index node); candidates are compared in index order with the best
        // so far (the comparison within epsilon is not transitive, so the order is fixed). States that differ only in
        // which GPU has which share give the same key, computed once.
        var known: [FragmentationModel.StateKey: [(free: Int16, key: Key)]] = [:]
        c.forEachCandidate(for: pod, filter, ordered: true) { n in
            let state = model.stateKey(node: n, in: c)
            var entries = known[state] ?? []
            let fresh = entries.isEmpty
            let gpuLeft = c.totalGPUFree(n) - pod.totalGPUMilli
            let cpuLeft = c.cpuFree[n] - pod.cpuMilli
            func consider(_ gpus: GPUSet, free: Int16, slotLeft: Int) {
                let key: Key
                if let e = entries.first(where: { $0.free == free }) {
                    key = e.key
                } else {
                    let d = model.delta(pod, node: n, gpus: gpus, in: c)
                    key = Key(delta: d.after - d.before, slotLeft: slotLeft, gpuLeft: gpuLeft, cpuLeft: cpuLeft)
                    entries.append((free, key))
                }
                if let b = best, !Self.better(key, than: b, epsilon: epsilon) { return }
                best = key
                choice = Placement(node: n, gpus: gpus)
            }
            if pod.isShare {
                // Every GPU with room, in index order; GPUs with the same free share give the same key, and the first stays.
                for g in 0..<Int(c.gpuCount[n]) where c.free(n, g) >= pod.gpuMilli {
                    consider(GPUSet([g]), free: c.free(n, g), slotLeft: Int(c.free(n, g) - pod.gpuMilli))
                }
            } else if pod.usesGPU {
                if let gpus = c.wholeGPUs(n, count: Int(pod.gpuCount)) { consider(gpus, free: 1000, slotLeft: 0) }
            } else {
                consider(GPUSet(), free: -1, slotLeft: 0)
            }
            if fresh { known[state] = entries }
        }
        return choice
    }

    static func better(_ a: Key, than b: Key, epsilon: Double) -> Bool {
        if abs(a.delta - b.delta) > max(1e-9, epsilon) { return a.delta < b.delta }
        if a.slotLeft != b.slotLeft { return a.slotLeft < b.slotLeft }
        if a.gpuLeft != b.gpuLeft { return a.gpuLeft < b.gpuLeft }
        return a.cpuLeft < b.cpuLeft
    }
}
