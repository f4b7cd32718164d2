/// One Kubernetes cluster of the platform (the contract's `clusters` list): how Tarmac reaches it, which pools it
/// offers and which environments may run there. A contract with no clusters drives the one cluster `tarmac up` is
/// pointed at, as before.
public struct ClusterSpec: Sendable, Hashable {
    public var name: String
    public var kubeconfig: KubeconfigSource
    /// Pools it offers (empty: every pool of the contract).
    public var pools: [String] = []
    /// Environments whose workloads may run there (empty: every environment).
    public var environments: [String] = []
    public var region: String?
    public var labels: [String: String] = [:]
    public var description: String?
    public var origin = Origin.unknown

    public init(name: String, kubeconfig: KubeconfigSource) {
        self.name = name
        self.kubeconfig = kubeconfig
    }

    /// Whether a workload of this environment may run here.
    public func allows(environment: String) -> Bool { environments.isEmpty || environments.contains(environment) }
    /// Whether this cluster offers a pool.
    public func offers(pool: String) -> Bool { pools.isEmpty || pools.contains(pool) }
}

/// Where a cluster's credentials come from.
public enum KubeconfigSource: Sendable, Hashable, CustomStringConvertible {
    /// A kubeconfig file (relative paths: to the contract file naming it) and optionally one of its contexts; a context
    /// alone is one of the kubeconfig `tarmac up` was given.
    case file(path: String?, context: String?)
    /// A kubeconfig in a Secret of Tarmac's namespace in the cluster Tarmac runs in.
    case secret(name: String, key: String)
    /// The cluster Tarmac runs in, through its pod's service account.
    case inCluster

    public var description: String {
        switch self {
        case .file(let path, let context): [path.map { "file \($0)" }, context.map { "context \($0)" }].compactMap { $0 }.joined(separator: ", ")
        case .secret(let name, let key): "Secret \(name), key \(key)"
        case .inCluster: "in-cluster service account"
        }
    }
}

extension Platform {
    /// The clusters a workload may run on: those that allow its environment, offer one of `pools` (the pools that can
    /// host its size) and hold every dataset it mounts, in contract order. nil when the contract names no clusters.
    public func clusters(environment: String, pools: [String], datasets: [String]) -> [String]? {
        guard !clusters.isEmpty else { return nil }
        return clusters.filter { c in
            c.allows(environment: environment) && pools.contains(where: c.offers(pool:))
                && datasets.allSatisfy { d in self.datasets[d].map { $0.clusters.isEmpty || $0.clusters.contains(c.name) } ?? true }
        }.map(\.name)
    }

    /// Why no cluster can run a workload, one clause per condition that rules clusters out ("environment 'prod' runs only
    /// on prod-east"), for the error that refuses it.
    public func whyNoCluster(environment: String, pools: [String], datasets: [String]) -> String {
        var clauses: [String] = []
        let byEnv = clusters.filter { $0.allows(environment: environment) }.map(\.name)
        clauses.append(byEnv.isEmpty ? "no cluster allows environment '\(environment)'" : "environment '\(environment)' runs only on \(byEnv.joined(separator: ", "))")
        let byPool = clusters.filter { c in pools.contains(where: c.offers(pool:)) }.map(\.name)
        clauses.append(byPool.isEmpty ? "no cluster offers its pools (\(pools.joined(separator: ", ")))" : "its pools (\(pools.joined(separator: ", "))) are on \(byPool.joined(separator: ", "))")
        for d in datasets {
            guard let set = self.datasets[d], !set.clusters.isEmpty else { continue }
            clauses.append("dataset '\(d)' is only on \(set.clusters.joined(separator: ", "))")
        }
        return clauses.joined(separator: "; ")
    }
}
