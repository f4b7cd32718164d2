/// Chooses where one pod goes. Policies are values; a policy that learns from its own decisions (GpuClustering)
/// does so in `didPlace`. The engine asks a policy only about pods; quotas, order and gangs are the engine's.
public protocol PlacementPolicy: Sendable {
    var name: String { get }
    /// The best placement for `pod` among the nodes of `cluster` that `filter` allows, or nil when it fits nowhere.
    mutating func place(_ pod: PodShape, in cluster: ClusterState, among filter: NodeFilter, rng: inout SplitMix64) -> Placement?
    /// Called after the engine assigned `pod` at `placement`.
    mutating func didPlace(_ pod: PodShape, at placement: Placement, in cluster: ClusterState)
    /// Called after the engine released `pod` from `placement` (completion, preemption).
    mutating func didRelease(_ pod: PodShape, from placement: Placement, in cluster: ClusterState)
}

extension PlacementPolicy {
    /// The best placement for `pod` anywhere in `cluster`.
    public mutating func place(_ pod: PodShape, in cluster: ClusterState, rng: inout SplitMix64) -> Placement? {
        place(pod, in: cluster, among: .all, rng: &rng)
    }

    public mutating func didPlace(_ pod: PodShape, at placement: Placement, in cluster: ClusterState) {}
    public mutating func didRelease(_ pod: PodShape, from placement: Placement, in cluster: ClusterState) {}
}

/// The policies Tarmac ships, by name (`--policy`).
public enum PolicyName: String, CaseIterable, Sendable {
    case random = "Random"
    case dotProduct = "DotProduct"
    case gpuClustering = "GpuClustering"
    case gpuPacking = "GpuPacking"
    case bestFit = "BestFit"
    case fgd = "FGD"
    case tarmac = "Tarmac"

    /// Makes the policy; fragmentation-aware ones need the expected workload (`typical` pods with their shares).
    public func make(typical: [TypicalPod]) -> any PlacementPolicy {
        switch self {
        case .random: RandomPolicy()
        case .dotProduct: DotProductPolicy()
        case .gpuClustering: GpuClusteringPolicy()
        case .gpuPacking: GpuPackingPolicy()
        case .bestFit: BestFitPolicy()
        case .fgd: FGDPolicy(model: FragmentationModel(typical: typical))
        case .tarmac: TarmacPolicy(model: FragmentationModel(typical: typical, countsMemory: true), epsilon: 20)
        }
    }

    public static func named(_ s: String) -> PolicyName? {
        allCases.first { $0.rawValue.lowercased() == s.lowercased() }
    }
}

/// Keeps the highest integer score; on equal scores the lowest node index, as in the FGD paper's scheduler, which picks
/// the lexicographically smallest node name for reproducibility.
struct ArgMax {
    var best: Int = Int.min
    var choice: Placement?

    mutating func offer(_ score: Int, _ placement: Placement, _ rng: inout SplitMix64) {
        if score > best || (score == best && placement.node < choice!.node) {
            best = score
            choice = placement
        }
    }
}

/// GPU selection within a node ("best fit"): a share goes to the fullest GPU that still has room (lowest index on a tie);
/// whole GPUs are the first free ones.
func bestFitGPUs(_ pod: PodShape, node: Int, in c: ClusterState) -> GPUSet {
    guard pod.usesGPU else { return GPUSet() }
    if pod.isShare {
        var best = -1
        for g in 0..<Int(c.gpuCount[node]) where c.free(node, g) >= pod.gpuMilli {
            if best < 0 || c.free(node, g) < c.free(node, best) { best = g }
        }
        return best < 0 ? GPUSet() : GPUSet([best])
    }
    return c.wholeGPUs(node, count: Int(pod.gpuCount)) ?? GPUSet()
}

/// The normalizing constants of the FGD paper's simulator (a 128-core, 8-GPU node).
enum Spec {
    static let cpu = 128_000.0
    static let gpu = 8_000.0
}

