import Foundation
import Testing
import TarmacContract
import TarmacPlanning
import TarmacEngine
import TarmacTesting
@testable import TarmacSimulator

let traceDir = Fixtures.root.deletingLastPathComponent().appendingPathComponent("shared/traces/alibaba-gpu-v2023").path
let traceAvailable = FileManager.default.fileExists(atPath: traceDir + "/csv/openb_node_list_gpu_node.csv")

@Suite struct TraceLoaderTests {
    @Test func readsBothPodListFormatsAndReportsBadRows() throws {
        let dir = try TemporaryDirectory()
        let nodes = try dir.write("nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,T4\nn1,96000,393216,8,G2\nn2,32000,1024,0,\n")
        let full = try dir.write("full.csv", AlibabaTrace.podColumns.joined(separator: ",") + "\np0,6000,12288,1,460,T4|G2,LS,Running,5,100,5\np1,12000,16384,2,1000,,BE,Running,0,,0\n")
        let short = try dir.write("short.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,8,1000\n")
        let n = try AlibabaTrace.loadNodes(nodes)
        #expect(n.map(\.gpus) == [2, 8, 0] && n[2].model == nil)
        let p = try AlibabaTrace.loadPods(full)
        #expect(p[0].gpuSpec == ["T4", "G2"] && p[0].gpuMilli == 460 && p[0].deletion == 100)
        #expect(p[1].deletion == nil && p[1].gpuCount == 2)
        #expect(try AlibabaTrace.loadPods(short).first?.gpuCount == 8)
        let bad = try dir.write("bad.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,two,1000\n")
        #expect(throws: AlibabaTrace.LoadError(file: bad, line: 2, message: "num_gpu must be a non-negative integer, got 'two'")) {
            try AlibabaTrace.loadPods(bad)
        }
        let wrong = try dir.write("wrong.csv", "a,b\n1,2\n")
        #expect(throws: AlibabaTrace.LoadError.self) { try AlibabaTrace.loadNodes(wrong) }
        #expect(AlibabaTrace.cluster(n).count == 2, "GPU nodes only")
    }

    @Test(.enabled(if: traceAvailable, "the Alibaba trace is not at ../shared/traces/alibaba-gpu-v2023; skipped"))
    func theRealTraceHasThePublishedShape() throws {
        let nodes = try AlibabaTrace.loadNodes(traceDir + "/csv/openb_node_list_gpu_node.csv")
        let cluster = AlibabaTrace.cluster(nodes)
        #expect(cluster.count == 1213)
        #expect(cluster.totalGPUMilli == 6212 * 1000)
        let lists = AlibabaTrace.podLists(in: traceDir)
        #expect(lists.first == "default" && lists.count >= 17)
        let pods = try AlibabaTrace.loadPods(traceDir + "/csv/openb_pod_list_default.csv")
        #expect(pods.count == 8152)
    }

    /// The protocol on a tenth of the real cluster: allocation never decreases, never exceeds capacity,
    /// inflation stops just under 130%, and the same seed gives the same run.
    @Test(.enabled(if: traceAvailable, "the Alibaba trace is not at ../shared/traces/alibaba-gpu-v2023; skipped"))
    func allocationExperimentProtocol() throws {
        let nodes = Array(try AlibabaTrace.loadNodes(traceDir + "/csv/openb_node_list_gpu_node.csv").prefix(120))
        let pods = Array(try AlibabaTrace.loadPods(traceDir + "/csv/openb_pod_list_default.csv").prefix(800))
        let e = AllocationExperiment(nodes: nodes, pods: pods)
        let arrivals = e.arrivals(seed: 3)
        let requested = Double(arrivals.reduce(0) { $0 + $1.totalGPUMilli }) / Double(e.cluster.totalGPUMilli)
        #expect(requested <= 1.3 && requested > 1.2)
        for policy in [PolicyName.random, .bestFit, .fgd, .tarmac] {
            let r = e.run(policy, seed: 3)
            #expect(zip(r.curve, r.curve.dropFirst()).allSatisfy { $0 <= $1 }, "\(policy) allocation decreased")
            #expect(r.final <= 100 && r.final > 50)
            #expect(r.placed + r.skipped == r.arrivals)
            #expect(e.run(policy, seed: 3).curve == r.curve, "\(policy) is not deterministic")
        }
    }
}

/// One engine over several clusters allocates as it does over one cluster of the same nodes (the 0.5 points),
/// on a tenth of the real cluster; and the split keeps every node, its GPUs and the pods' GPU models.
@Suite struct FleetAllocationTests {
    @Test(.enabled(if: traceAvailable, "the Alibaba trace is not at ../shared/traces/alibaba-gpu-v2023; skipped"))
    func threeClustersAllocateAsOne() throws {
        let nodes = Array(try AlibabaTrace.loadNodes(traceDir + "/csv/openb_node_list_gpu_node.csv").prefix(120))
        let pods = Array(try AlibabaTrace.loadPods(traceDir + "/csv/openb_pod_list_default.csv").prefix(800))
        let one = AllocationExperiment(nodes: nodes, pods: pods)
        let three = one.split(into: 3)
        #expect(three.cluster.clusterCount == 3 && three.cluster.count == one.cluster.count)
        #expect(three.cluster.totalGPUMilli == one.cluster.totalGPUMilli && three.cluster.modelNames == one.cluster.modelNames)
        #expect(Set((0..<three.cluster.count).map { three.cluster.cluster[$0] }) == [0, 1, 2])
        for policy in [PolicyName.fgd, .tarmac] {
            var a = 0.0, b = 0.0
            for seed in UInt64(1)...3 {
                a += one.run(policy, seed: seed).allocation(at: 100)
                b += three.run(policy, seed: seed).allocation(at: 100)
            }
            #expect(abs(a - b) / 3 <= 0.5, "\(policy): one cluster \(a / 3)%, three \(b / 3)%")
        }
    }
}

@Suite struct SimulationTests {
    func cluster(_ nodes: Int) -> ClusterState {
        var c = ClusterState()
        for i in 0..<nodes { c.addNode(name: "n\(i)", cpuMilli: 32_000, memoryMiB: 256 * 1024, gpus: 8, model: "h100") }
        return c
    }

    func job(_ id: String, team: String, at: Int64, gpus: Int, runs: Int64, priority: Int = 0, checkpoint: Int64? = nil) -> SimulatedWorkload {
        let pod = PodShape(cpuMilli: 4000, memoryMiB: 1024, gpuCount: gpus, gpuMilli: 1000, models: .only([1]))
        return SimulatedWorkload(workload: PendingWorkload(id: id, team: team, priority: priority, submitted: at, pods: [pod]),
                                 arrival: at, duration: runs, workloadClass: "training", checkpointEvery: checkpoint)
    }

    func quota(_ team: String, _ gpus: Int) -> TeamQuota {
        var r = Resources(cpuMilli: 1 << 40, memoryMiB: 1 << 40)
        r.addGPU(1, Int64(gpus * 1000))
        return TeamQuota(name: team, nominal: r)
    }

    @Test func everythingRunsAndWaitsAreMeasured() {
        // One node; two 8-GPU jobs of 10 s arriving together: the second waits 10 s; makespan 20 s.
        let sim = Simulation(cluster: cluster(1), quotas: [quota("a", 8)], workloads: [job("j1", team: "a", at: 0, gpus: 8, runs: 10_000), job("j2", team: "a", at: 0, gpus: 8, runs: 10_000)])
        let r = sim.run()
        #expect(r.completed == 2 && r.neverAdmitted == 0)
        #expect(r.makespan == 20_000)
        #expect(r.waits.map(\.milliseconds).sorted() == [0, 10_000])
        #expect(abs(r.gpuAllocation - 100) < 1e-9)
    }

    /// A budget replays as the engine's hold: team a may use 1 GPU-hour; its 8-GPU job runs 5 minutes (0.67 GPU-hours),
    /// the next runs on past the budget (running work goes on) and is held at 7.5 minutes; a's third job never runs,
    /// team b's runs after it anyway.
    @Test func aBudgetHoldsTheTeamOnceItIsUsed() {
        var sim = Simulation(cluster: cluster(2), quotas: [quota("a", 16), quota("b", 16)],
                             workloads: [job("a1", team: "a", at: 0, gpus: 8, runs: 300_000), job("a2", team: "a", at: 300_000, gpus: 8, runs: 300_000),
                                         job("a3", team: "a", at: 700_000, gpus: 8, runs: 1000), job("b1", team: "b", at: 700_000, gpus: 8, runs: 1000)])
        sim.budgets = ["a": 1]
        let r = sim.run()
        #expect(r.budgetHolds == ["a": 450_000], "8 GPUs use 1 GPU-hour in 7.5 minutes: \(r.budgetHolds)")
        #expect(r.completed == 3 && r.neverAdmitted == 1, "a2 runs to its end; a3 is held; b1 runs")
        var free = sim
        free.budgets = [:]
        #expect(free.run().neverAdmitted == 0 && free.run().budgetHolds.isEmpty)
    }

    @Test func preemptionResumesFromTheLastCheckpoint() {
        // A low-priority job checkpoints every 3 s; at 7 s an urgent job takes the node for 5 s.
        let sim = Simulation(cluster: cluster(1), quotas: [quota("a", 16)],
                             workloads: [job("low", team: "a", at: 0, gpus: 8, runs: 10_000, checkpoint: 3000), job("urgent", team: "a", at: 7000, gpus: 8, runs: 5000, priority: 9)])
        let r = sim.run()
        #expect(r.preemptions == 1)
        // Lost: 1 s of 8 GPUs (7 s run, 6 s saved). The low job resumes at 12 s with 4 s left: ends at 16 s.
        #expect(abs(r.lostGPUHours - 8.0 / 3600) < 1e-9)
        #expect(r.makespan == 16_000)
        #expect(r.completed == 2)
    }

    @Test func aFailureEndsTheRunEarlyAndFreesTheNode() {
        var failing = job("flaky", team: "a", at: 0, gpus: 8, runs: 10_000)
        failing.failsAfter = 4000
        let sim = Simulation(cluster: cluster(1), quotas: [quota("a", 8)], workloads: [failing, job("next", team: "a", at: 0, gpus: 8, runs: 1000)])
        let r = sim.run()
        #expect(r.failed == 1 && r.completed == 1)
        #expect(r.makespan == 5000)  // the next job starts when the flaky one fails at 4 s
    }

    @Test func kueueScenarioSmallRunsToCompletion() {
        var sim = KueueScenario.simulation(cohorts: 1, queuesPerCohort: 2, nodes: 1)
        sim.workloads = Array(sim.workloads.prefix(200))
        let r = sim.run()
        #expect(r.neverAdmitted == 0 && r.completed == 200)
        #expect(r.cpuAllocation > 0 && r.cpuAllocation <= 100)
        #expect(sim.run().waits.map(\.milliseconds) == r.waits.map(\.milliseconds))
    }

    @Test func kueueScenarioPreemptsOnlyWhenItsPrioritiesMay() {
        // One cohort of 6 queues on one node, the first 6 s of arrivals: larges come every 1.2 s.
        for preemption in [false, true] {
            var sim = KueueScenario.simulation(cohorts: 1, queuesPerCohort: 6, nodes: 1, preemption: preemption)
            sim.workloads = sim.workloads.filter { $0.arrival < 6000 }
            let r = sim.run()
            #expect(r.completed == sim.workloads.count)
            if preemption {
                #expect(r.preemptions > 0, "larges preempt the mediums and smalls that filled the gap between waves")
            } else {
                #expect(r.preemptions == 0)
            }
        }
    }

    @Test func contractInventoryMatchesThePlatform() throws {
        let contract = try #require(ContractLoader.load(Fixtures.examplePlatform).contract)
        let inv = ContractInventory(platform: contract.platform, extraNodes: ["train-h100": 4])
        #expect(inv.cluster.count == contract.platform.pools.values.reduce(0) { $0 + $1.nodes } + 4)
        #expect(inv.quotas.count == contract.platform.teams.count)
        let h100 = inv.cluster.modelNames.firstIndex(of: "h100")!
        #expect(inv.quotas.first { $0.name == "search" }?.nominal.gpu(h100) == 16_000)
        let workloads = inv.synthetic(count: 300, span: 3_600_000, meanDuration: 600_000, seed: 5)
        #expect(workloads.count > 200)
        let r = Simulation(cluster: inv.cluster, quotas: inv.quotas, workloads: workloads).run()
        #expect(r.completed + r.failed + r.neverAdmitted == workloads.count)
    }
}
