import ArgumentParser
import Foundation
import TarmacAPI

/// `tarmac clusters`: the platform's clusters as the server sees them now.
struct ClustersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusters",
        abstract: "List the platform's clusters: whether each answers, its nodes and GPUs by pool, what ran there, failed over and drifted.",
        discussion: """
        A platform whose contract names clusters (spec.clusters) runs each workload on one of them. A cluster that stops answering is cordoned at once (nothing new goes there); after the contract's clusterLostTimeout it is lost and its workloads start again elsewhere. GPUS is what Tarmac's workloads hold of each pool's GPUs there. DRIFT is the platform's objects last found changed there, and corrected.

        Examples:
          tarmac clusters
          tarmac clusters -o json
        """)

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient {
            let body = try await client.client().call(.GET, "/v1/clusters").body
            let list = try ServerClient.decode(ClusterList.self, body)
            guard client.output.format == .text else {
                return try printStructured(body, client.output.format)
            }
            guard !list.items.isEmpty else {
                print("This server drives one cluster or this machine: its contract names no clusters (spec.clusters).")
                return
            }
            print(Terminal.table(["CLUSTER", "REGION", "STATE", "LAST CONTACT", "NODES", "GPUS USED/TOTAL", "WORKLOADS", "DISPATCHED", "REFUSED", "FAILOVERS", "DRIFT"],
                                 list.items.map(Self.row)))
            for c in list.items {
                for d in c.drift { print("drift on \(c.name)\(c.driftAt.map { " (\(Age.text(since: $0)) ago)" } ?? ""), corrected: \(d)") }
                for e in c.platformErrors { print("not applied on \(c.name): \(e)") }
            }
        }
    }

    static func row(_ c: ClusterView) -> [String] {
        let state = c.lost ? "lost" : c.reachable ? "reachable" : "unreachable" + (c.unreachableSince.map { " \(Age.text(since: $0))" } ?? "")
        let gpus = c.pools.filter { $0.gpus > 0 }.map { "\($0.pool) \(String(format: "%g", $0.gpusUsed))/\($0.gpus)" }.joined(separator: ", ")
        let refused = c.rejected.values.reduce(0, +)
        return [c.name, c.region ?? "-", state, c.lastContact.map { Age.text(since: $0) + " ago" } ?? "never", String(c.nodes), gpus.isEmpty ? "-" : gpus,
                String(c.workloads), String(c.dispatched), refused == 0 ? "0" : "\(refused) (" + c.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")",
                String(c.failovers), c.drift.isEmpty ? "none" : "\(c.drift.count) corrected"]
    }
}
