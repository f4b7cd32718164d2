import TarmacModel

extension PlatformValidator {
    /// The `clusters` list: unique names, one way to reach each, pools and environments that exist, every pool and
    /// environment somewhere, datasets' clusters that exist.
    static func clusterProblems(_ p: Platform) -> [Diagnostic] {
        var out: [Diagnostic] = []
        let names = p.clusters.map(\.name)
        var seen: Set<String> = []
        var inCluster: [String] = []
        for c in p.clusters {
            let o = c.origin
            if !seen.insert(c.name).inserted {
                out.append(.error(at: o.at("name"), "cluster '\(c.name)' is named twice", rule: "duplicate-name", help: "give each cluster its own name"))
            }
            let ways = ["path", "context", "secretRef", "inCluster"].filter { o.fields["kubeconfig." + $0] != nil }
            let usesFile = ways.contains("path") || ways.contains("context")
            let count = (usesFile ? 1 : 0) + (ways.contains("secretRef") ? 1 : 0) + (ways.contains("inCluster") ? 1 : 0)
            if count != 1 {
                out.append(.error(at: o.key("kubeconfig"), "cluster '\(c.name)' must say how it is reached in exactly one way, not \(count == 0 ? "none" : ways.joined(separator: " and "))",
                                  rule: "cluster-kubeconfig", help: "set one of kubeconfig.path (with an optional context), kubeconfig.context, kubeconfig.secretRef or kubeconfig.inCluster: true"))
            }
            if case .inCluster = c.kubeconfig { inCluster.append(c.name) }
            for (i, pool) in c.pools.enumerated() where p.pools[pool] == nil {
                out.append(.error(at: o.at("pools.\(i)"), "cluster '\(c.name)' offers unknown pool '\(pool)'" + Suggestions.hint(for: pool, in: p.pools.keys, noun: "pools"), rule: "unknown-reference"))
            }
            for (i, env) in c.environments.enumerated() where p.environments[env] == nil {
                out.append(.error(at: o.at("environments.\(i)"), "cluster '\(c.name)' allows unknown environment '\(env)'" + Suggestions.hint(for: env, in: p.environments.keys, noun: "environments"), rule: "unknown-reference"))
            }
        }
        if inCluster.count > 1 {
            let second = p.clusters.filter { if case .inCluster = $0.kubeconfig { true } else { false } }[1]
            out.append(.error(at: second.origin.at("kubeconfig.inCluster"), "clusters \(inCluster.map { "'\($0)'" }.joined(separator: " and ")) are both the cluster Tarmac runs in (inCluster)", rule: "cluster-kubeconfig",
                              help: "only one cluster is the one Tarmac's pods run in; reach the others with a kubeconfig (path, context or secretRef)"))
        }
        if !p.clusters.isEmpty {
            for pool in p.pools.keys.sorted() where !p.clusters.contains(where: { $0.offers(pool: pool) }) {
                out.append(.warning(at: p.pools[pool]?.origin.location, "pool '\(pool)' is offered by no cluster: nothing runs on it", rule: "cluster-coverage",
                                    help: "add it to a cluster's pools, or leave that cluster's pools unset (every pool)"))
            }
            for env in p.environments.keys.sorted() where !p.clusters.contains(where: { $0.allows(environment: env) }) {
                out.append(.warning(at: p.environments[env]?.origin.location, "no cluster allows environment '\(env)': its workloads can never run", rule: "cluster-coverage",
                                    help: "add it to a cluster's environments, or leave that cluster's environments unset (every environment)"))
            }
        }
        for d in p.datasets.values.sorted(by: { $0.name < $1.name }) {
            for (i, c) in d.clusters.enumerated() where !names.contains(c) {
                out.append(.error(at: d.origin.at("clusters.\(i)"), "dataset '\(d.name)' is held by unknown cluster '\(c)'" + Suggestions.hint(for: c, in: names, noun: "clusters"), rule: "unknown-reference"))
            }
        }
        return out
    }
}
