import Foundation
import TarmacContract
import TarmacModel
import TarmacPlanning
import TarmacTesting
import Testing

/// The contract's clusters decide where a workload may run: its environment, its pools, its datasets.
@Suite struct ClusterPlanTests {
    static func contract() throws -> (Contract, TemporaryDirectory) {
        let dir = try TemporaryDirectory()
        let file = try dir.write("platform.yaml", FleetFixture.platform(east: "east.kubeconfig", west: "/etc/west.kubeconfig"))
        let r = ContractLoader.load(file)
        let c = try #require(r.contract, "\(r.diagnostics)")
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics)")
        return (c, dir)
    }

    @Test func theClustersAreReadWithTheirKubeconfigsBesideTheContract() throws {
        let (c, dir) = try Self.contract()
        let p = c.platform
        #expect(p.clusters.map(\.name) == ["east", "west"])
        #expect(p.clusters[0].kubeconfig == .file(path: dir.path + "/east.kubeconfig", context: nil))
        #expect(p.clusters[1].kubeconfig == .file(path: "/etc/west.kubeconfig", context: nil))
        #expect(p.clusters[0].environments == ["dev", "prod"] && p.clusters[1].region == "us-west")
        #expect(p.clusterLostTimeout == TimeSpan(seconds: 5))
        #expect(p.datasets["corpus"]?.clusters == ["east"])
    }

    @Test(arguments: [("dev", [String](), ["east", "west"]), ("prod", [], ["east"]), ("dev", ["corpus"], ["east"])])
    func aPlanNamesTheClustersItMayUse(env: String, datasets: [String], clusters: [String]) throws {
        let (c, _) = try Self.contract()
        let w = try #require(DocumentReader.read(text: FleetFixture.training(env: env, datasets: datasets), file: "t.yaml").workloads.first)
        let plan = try #require(WorkloadPlan(workload: w, contract: c, rules: KindRules(maxAttempts: 1)))
        #expect(plan.clusters == clusters)
        // The engine's pools for it are that pool in those clusters only.
        let nodes = ["east", "west"].flatMap { (k: String) -> [NodeInventory] in (0..<2).map { NodeInventory(name: "\(k)/n\($0)", cpuMilli: 32_000, memoryMiB: 256 * 1024, gpus: 4, accelerator: "h100", pool: "gpu", cluster: k) } }
        let engine = EngineCluster(contract: c, nodes: nodes)
        let pools = try #require(engine.pools(for: plan))
        let usable = (0..<engine.cluster.count).filter { pools.contains(engine.cluster.pool[$0]) }.map { engine.cluster.names[$0] }
        #expect(usable == clusters.flatMap { k in ["\(k)/n0", "\(k)/n1"] })
        #expect(Set(usable.compactMap { engine.nodeIndex[$0].flatMap(engine.clusterName(ofNode:)) }) == Set(clusters))
    }

    @Test func aWorkloadNoClusterCanRunIsRefusedWithTheReason() throws {
        let dir = try TemporaryDirectory()
        // The dataset lives only in west, which does not run prod: no cluster has both.
        let text = FleetFixture.platform(east: "e", west: "w").replacingOccurrences(of: "clusters: [east]}", with: "clusters: [west]}")
        let c = try #require(ContractLoader.load(try dir.write("platform.yaml", text)).contract)
        let prod = try #require(DocumentReader.read(text: FleetFixture.training(env: "prod", datasets: ["corpus"]), file: "t.yaml").workloads.first)
        let problems = WorkloadValidator.validate(prod, against: c).filter { $0.rule == "no-cluster" }
        #expect(problems.map(\.message) == ["no cluster can run it: environment 'prod' runs only on east; its pools (gpu) are on east, west; dataset 'corpus' is only on west"])
        #expect(problems.first?.location?.line == 10)  // spec.datasets, its first item
        // In dev it can run (on west), and without the dataset prod runs on east.
        for (env, datasets) in [("dev", ["corpus"]), ("prod", [])] {
            let w = try #require(DocumentReader.read(text: FleetFixture.training(env: env, datasets: datasets), file: "t.yaml").workloads.first)
            #expect(WorkloadValidator.validate(w, against: c).filter { $0.rule == "no-cluster" }.isEmpty)
        }
    }
}
