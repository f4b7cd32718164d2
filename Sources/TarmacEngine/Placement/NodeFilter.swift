/// Which nodes a pod may go to: any, those of some pools, those of one cluster, or a given list (one topology domain
/// of a gang).
public struct NodeFilter: Sendable {
    public var pools: Set<Int16>?
    /// When set, only these nodes, in this order.
    public var nodes: [Int]?
    /// When set, only nodes of this cluster (`ClusterState.cluster`).
    public var cluster: Int16?

    public init(pools: Set<Int16>? = nil, nodes: [Int]? = nil, cluster: Int16? = nil) {
        self.pools = pools
        self.nodes = nodes
        self.cluster = cluster
    }

    /// Whether the filter lets a node in by its pool and cluster (not by what is free on it).
    @inline(__always) public func admits(_ n: Int, in c: ClusterState) -> Bool {
        if let k = cluster, c.cluster[n] != k { return false }
        return pools?.contains(c.pool[n]) ?? true
    }

    public static let all = NodeFilter()
}

extension ClusterState {
    /// Calls `body` once per group of interchangeable nodes (`NodeClasses`) that the filter allows and `pod` fits on,
    /// with the group's lowest-index node; `ordered` gives them in index order. With a node list, each listed node that
    /// fits, in the list's order.
    @inline(__always)
    public func forEachCandidate(for pod: PodShape, _ filter: NodeFilter, ordered: Bool, _ body: (Int) -> Void) {
        if let nodes = filter.nodes {
            for n in nodes where filter.admits(n, in: self) && fits(pod, on: n) { body(n) }
            return
        }
        if !ordered {
            for c in classes.live {
                let n = classes.first(c)
                if !filter.admits(n, in: self) { continue }
                if fits(pod, on: n) { body(n) }
            }
            return
        }
        var reps: [Int] = []
        reps.reserveCapacity(classes.live.count)
        for c in classes.live {
            let n = classes.first(c)
            if !filter.admits(n, in: self) { continue }
            if fits(pod, on: n) { reps.append(n) }
        }
        reps.sort()
        for n in reps { body(n) }
    }

    /// Calls `body` with every node the filter allows and `pod` fits on, in order (for policies whose choice depends on
    /// more than a node's state).
    @inline(__always)
    public func forEachFittingNode(for pod: PodShape, _ filter: NodeFilter, _ body: (Int) -> Void) {
        if let nodes = filter.nodes {
            for n in nodes where filter.admits(n, in: self) && fits(pod, on: n) { body(n) }
            return
        }
        for n in 0..<count where filter.admits(n, in: self) && fits(pod, on: n) { body(n) }
    }
}
