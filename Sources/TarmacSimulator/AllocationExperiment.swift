import TarmacEngine

/// The FGD paper's experiment: a cluster of GPU nodes; the trace's pods, plus pods sampled from it with replacement
/// until the requested GPU reaches `inflation` (130%) of the cluster's, shuffled by a seed; pods arrive one by one and
/// never leave; a pod that fits nowhere is skipped. Measured: allocated GPU / total GPU as arrivals grow.
public struct AllocationExperiment: Sendable {
    public var cluster: ClusterState
    public var pods: [PodShape]
    public var typical: [TypicalPod]
    public var inflation: Double

    public init(nodes: [AlibabaTrace.Node], pods tracePods: [AlibabaTrace.Pod], inflation: Double = 1.3) {
        var c = AlibabaTrace.cluster(nodes)
        pods = tracePods.map { AlibabaTrace.shape($0, in: &c) }
        cluster = c
        typical = TypicalPod.from(pods)
        self.inflation = inflation
    }

    public struct Result: Sendable {
        public var policy: String
        public var seed: UInt64
        /// Allocated GPU % of capacity when arrived GPU first reaches each whole percent of capacity (index = percent).
        public var curve: [Double]
        public var placed: Int
        public var skipped: Int
        public var arrivals: Int

        /// Allocation when arrivals reached `percent` of capacity.
        public func allocation(at percent: Int) -> Double { curve[min(percent, curve.count - 1)] }
        public var final: Double { curve.last ?? 0 }
    }

    /// The arrival sequence for a seed: the trace's pods plus samples, shuffled.
    public func arrivals(seed: UInt64) -> [PodShape] {
        var rng = SplitMix64(seed: seed)
        let capacity = Double(cluster.totalGPUMilli)
        var total = pods.reduce(0) { $0 + $1.totalGPUMilli }
        var list = pods
        while true {
            let p = pods[Int.random(in: 0..<pods.count, using: &rng)]
            if Double(total + p.totalGPUMilli) > inflation * capacity { break }
            total += p.totalGPUMilli
            list.append(p)
        }
        list.shuffle(using: &rng)
        return list
    }

    public func run(_ policyName: PolicyName, seed: UInt64) -> Result {
        var policy = policyName.make(typical: typical)
        return run(&policy, name: policyName.rawValue, seed: seed)
    }

    public func run(_ policy: inout any PlacementPolicy, name: String, seed: UInt64) -> Result {
        let sequence = arrivals(seed: seed)
        var c = cluster
        var rng = SplitMix64(seed: seed ^ 0xA11C_A7E5)
        let capacity = c.totalGPUMilli
        var arrived = 0, allocated = 0, placed = 0, skipped = 0
        var curve: [Double] = [0]
        for pod in sequence {
            arrived += pod.totalGPUMilli
            if let p = policy.place(pod, in: c, rng: &rng) {
                precondition(c.fits(pod, on: p.node) && p.gpus.count == Int(pod.gpuCount), "\(name) chose an impossible placement")
                c.assign(pod, to: p)
                policy.didPlace(pod, at: p, in: c)
                allocated += pod.totalGPUMilli
                placed += 1
            } else {
                skipped += 1
            }
            let percent = arrived * 100 / capacity
            while curve.count <= percent { curve.append(Double(allocated) * 100 / Double(capacity)) }
        }
        return Result(policy: name, seed: seed, curve: curve, placed: placed, skipped: skipped, arrivals: sequence.count)
    }
}

extension AllocationExperiment {
    /// The same nodes and arrivals with the nodes dealt over `clusters` clusters (node i in cluster i mod k): one engine
    /// over several clusters should allocate as it does over one cluster of the same nodes.
    public func split(into clusters: Int) -> AllocationExperiment {
        precondition(clusters >= 1)
        var split = ClusterState()
        // The pods' shapes name GPU models by index: the same indices, in the same order.
        for name in cluster.modelNames.dropFirst() { _ = split.modelID(name) }
        for n in 0..<cluster.count {
            let model = cluster.model[n] == 0 ? nil : cluster.modelNames[Int(cluster.model[n])]
            split.addNode(name: cluster.names[n], cpuMilli: cluster.cpuCapacity[n], memoryMiB: cluster.memoryCapacity[n], gpus: Int(cluster.gpuCount[n]),
                          model: model, pool: cluster.pool[n], domain: cluster.domain[n], cluster: Int16(n % clusters))
        }
        var copy = self
        copy.cluster = split
        return copy
    }
}
