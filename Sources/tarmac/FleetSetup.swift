import ArgumentParser
import Foundation
import Logging
import TarmacContract
import TarmacCore
import TarmacFleet
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacModel

/// `tarmac up --backend kubernetes` with a contract that names clusters: one Kubernetes backend per cluster, reached as
/// the contract says, started side by side, made into a Fleet.
struct FleetSetup {
    var contract: Contract
    var cluster: ClusterOptions
    var dataDir: String
    var platformResync: Duration

    struct Started {
        var fleet: FleetBackend
        var members: [(name: String, backend: KubernetesBackend, client: KubeClient)]
        var lines: [String]
    }

    /// How one cluster is reached (`cluster`: the server's own --kubeconfig, --context, --in-cluster).
    static func access(_ c: ClusterSpec, via cluster: ClusterOptions) async throws -> ClusterAccess {
        switch c.kubeconfig {
        case .file(let path, let context):
            if let path { return try KubeConfig.load(path: path, context: context) }
            return try cluster.access(context: context)
        case .inCluster:
            return try KubeConfig.inCluster()
        case .secret(let name, let key):
            // A Secret of tarmac-system in the cluster Tarmac runs in (or the one --kubeconfig names).
            let home = try KubeClient(try cluster.access(), logger: Logger(label: "tarmac.fleet"))
            let secret: [String: Any]
            do { secret = try await home.get("/api/v1/namespaces/\(Naming.systemNamespace)/secrets/\(name)") } catch {
                throw ValidationError("cluster '\(c.name)': cannot read Secret \(Naming.systemNamespace)/\(name): \(error)")
            }
            guard let b64 = (secret["data"] as? [String: Any])?[key] as? String, let data = Data(base64Encoded: b64) else {
                let keys = ((secret["data"] as? [String: Any])?.keys.sorted() ?? []).joined(separator: ", ")
                throw ValidationError("cluster '\(c.name)': Secret \(Naming.systemNamespace)/\(name) has no key '\(key)' (keys: \(keys.isEmpty ? "none" : keys))")
            }
            return try KubeConfig.parse(data, path: "Secret \(Naming.systemNamespace)/\(name) key \(key)")
        }
    }

    func start() async throws -> Started {
        let p = contract.platform
        var members: [(name: String, backend: KubernetesBackend, client: KubeClient)] = []
        for c in p.clusters {
            let a: ClusterAccess
            do { a = try await Self.access(c, via: cluster) } catch {
                throw ValidationError("cluster '\(c.name)' (\(c.kubeconfig)): \(error)")
            }
            var logger = Logger(label: "tarmac.kubernetes")
            logger[metadataKey: "cluster"] = "\(c.name)"
            let client = try KubeClient(a, logger: logger)
            var options = KubernetesBackendOptions(logDirectory: dataDir + "/logs/" + c.name, platformResync: platformResync)
            options.prepareQueued = false
            members.append((c.name, KubernetesBackend(client: client, contract: contract, options: options, logger: logger), client))
        }
        // Side by side: a cluster that does not answer does not hold the others up; it joins when it does.
        let failures = await withTaskGroup(of: (String, String?).self) { g in
            for m in members {
                g.addTask {
                    do {
                        try await m.backend.start(syncTimeout: .seconds(20))
                        return (m.name, nil)
                    } catch {
                        return (m.name, "\(error)")
                    }
                }
            }
            var out: [String: String] = [:]
            for await (name, error) in g { if let error { out[name] = error } }
            return out
        }
        if failures.count == members.count {
            throw ValidationError("no cluster could be driven: " + failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
        }
        for m in members where failures[m.name] != nil {
            let backend = m.backend, name = m.name
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    do {
                        try await backend.start(syncTimeout: .seconds(20))
                        Logger(label: "tarmac.fleet").notice("cluster joined", metadata: ["cluster": "\(name)"])
                        return
                    } catch {}
                }
            }
        }
        let fleet = FleetBackend(members: p.clusters.compactMap { c in
            members.first { $0.name == c.name }.map { FleetBackend.Member(name: c.name, region: c.region, backend: $0.backend, pools: c.pools.isEmpty ? nil : Set(c.pools)) }
        }, lostTimeout: TimeInterval(p.clusterLostTimeout.seconds))
        await fleet.start()
        var lines: [String] = []
        for m in members {
            if let why = failures[m.name] {
                lines.append("  \(m.name): NOT REACHED (\(why)); it joins when it answers")
                continue
            }
            let nodes = (try? await m.backend.nodes()) ?? []
            let applied = await m.backend.platformOutcomes
            let spec = p.clusters.first { $0.name == m.name }
            lines.append("  \(m.name)\(spec?.region.map { " (\($0))" } ?? ""): \(m.client.access.server), \(nodes.count) node\(nodes.count == 1 ? "" : "s"), \(nodes.map(\.gpus).reduce(0, +)) GPUs; "
                + "environments \(spec?.environments.isEmpty == false ? spec!.environments.joined(separator: ",") : "all"); platform: \(applied.filter { $0.action == .created }.count) created, "
                + "\(applied.filter { $0.action == .updated }.count) corrected, \(applied.filter { $0.action == .unchanged }.count) unchanged")
        }
        return Started(fleet: fleet, members: members, lines: lines)
    }
}
