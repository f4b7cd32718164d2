import TarmacEngine

/// The workload of Kueue's scheduler performance test, in virtual time: 5 cohorts x 6 queues, nominal 20 CPU each,
/// borrowing limit 100; per queue 350 small / 100 medium / 50 large workloads arriving every 100 / 500 / 1,200 ms,
/// needing 1 / 5 / 20 CPU, running 200 / 500 / 1,000 ms, with priorities 50 / 100 / 200.
/// Kueue admits by quota alone; here admission also needs a placement, on `nodes` nodes sharing the 600 CPU.
///
/// Kueue's configuration lets a queue preempt lower priorities within itself and reclaim borrowed quota. Here the three
/// priorities are non-preempting unless `preemption` is set: with preemption, a large arriving every 1.2 s preempts the
/// mediums that filled the 0.2 s gap left by the previous wave of larges, and that work is lost (makespan about 76 s
/// instead of 66 s in virtual time).
public enum KueueScenario {
    public struct WorkloadClassSpec: Sendable {
        public var name: String
        public var count: Int
        public var every: Int64
        public var cpu: Int32
        public var runs: Int64
        public var priority: Int
    }

    public static let classes = [
        WorkloadClassSpec(name: "small", count: 350, every: 100, cpu: 1, runs: 200, priority: 50),
        WorkloadClassSpec(name: "medium", count: 100, every: 500, cpu: 5, runs: 500, priority: 100),
        WorkloadClassSpec(name: "large", count: 50, every: 1200, cpu: 20, runs: 1000, priority: 200),
    ]

    public static func simulation(cohorts: Int = 5, queuesPerCohort: Int = 6, nodes: Int = 6, policy: PolicyName = .tarmac,
                                  preemption: Bool = false) -> Simulation {
        let queues = cohorts * queuesPerCohort
        var cluster = ClusterState()
        let totalCPU = Int32(queues * 20)
        for i in 0..<nodes { cluster.addNode(name: "node-\(i)", cpuMilli: totalCPU / Int32(nodes) * 1000, memoryMiB: 1 << 30, gpus: 0, model: nil) }
        var quotas: [TeamQuota] = []
        var workloads: [SimulatedWorkload] = []
        for q in 0..<queues {
            let team = "cq-\(q)"
            quotas.append(TeamQuota(name: team, nominal: Resources(cpuMilli: 20_000, memoryMiB: 1 << 40), cohort: "cohort-\(q / queuesPerCohort)",
                                    borrowingLimit: Resources(cpuMilli: 100_000, memoryMiB: 1 << 40)))
            for c in classes {
                for i in 0..<c.count {
                    let pod = PodShape(cpuMilli: c.cpu * 1000, memoryMiB: 1, gpuCount: 0, gpuMilli: 0)
                    let id = "\(team)-\(c.name)-\(i)"
                    let arrival = Int64(i) * c.every
                    workloads.append(SimulatedWorkload(workload: PendingWorkload(id: id, team: team, user: team, priority: c.priority, submitted: arrival, pods: [pod],
                                                                                       preempts: preemption),
                                                       arrival: arrival, duration: c.runs, workloadClass: c.name))
                }
            }
        }
        return Simulation(cluster: cluster, quotas: quotas, workloads: workloads, policy: policy,
                          scheduler: Scheduler(config: SchedulerConfig(reservationAfter: .max, explain: false)))
    }
}
