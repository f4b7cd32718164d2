import Foundation
import TarmacContract
import TarmacModel
import TarmacPlanning
import TarmacTesting
import Testing

@Suite struct WorkloadPlanTests {
    static let contract: Contract = ContractLoader.load(Fixtures.examplePlatform).contract!

    static func workload(_ file: String) throws -> Workload {
        try #require(DocumentReader.read(file: Fixtures.exampleWorkloads + "/" + file).workloads.first)
    }

    /// Every example resolves to a size of its class, pools that can host it, and the stored form of the plan reads
    /// back the same (a restart uses it instead of the document).
    @Test(arguments: Fixtures.files(in: Fixtures.exampleWorkloads).map { ($0 as NSString).lastPathComponent })
    func everyExampleResolvesAndItsStoredFormReadsBack(_ file: String) throws {
        let w = try Self.workload(file)
        let plan = try #require(WorkloadPlan(workload: w, contract: Self.contract))
        let platform = Self.contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        #expect(plan.size == platform.size(for: w) && plan.size.workloadClass == w.workloadClass)
        #expect(!plan.poolNames.isEmpty && plan.poolNames.allSatisfy { platform.pools[$0]?.canHost(plan.size) == true })
        #expect(plan.version == WorkloadPlan.version)
        let stored = try JSONDecoder().decode(WorkloadPlan.self, from: JSONEncoder().encode(plan))
        #expect(stored.size.reference == plan.size.reference && stored.poolNames == plan.poolNames && stored.priority == plan.priority
            && stored.maxAttempts == plan.maxAttempts && stored.workload.command == w.command)
    }

    /// Attempts: a batch job's maxRetries + 1, three for the rest; only training has a minimum runtime before it may be
    /// preempted; services and agents are long-running.
    @Test func attemptsRuntimeAndServiceFollowTheKind() throws {
        for file in Fixtures.files(in: Fixtures.exampleWorkloads).map({ ($0 as NSString).lastPathComponent }) {
            let w = try Self.workload(file)
            let plan = try #require(WorkloadPlan(workload: w, contract: Self.contract))
            if case .batch(let b) = w.details { #expect(plan.maxAttempts == b.maxRetries + 1) } else { #expect(plan.maxAttempts == 3) }
            #expect((plan.minRuntime > 0) == (w.kind == .trainingJob), "\(file)")
            #expect(plan.isService == (w.kind == .inferenceService || w.kind == .agent), "\(file)")
        }
    }

    /// A size the contract does not have resolves to no plan (the validator reports it; nothing else looks it up).
    @Test func anUnknownSizeHasNoPlan() throws {
        var w = try Self.workload("train-cpu.yaml")
        w.size = "cpu-enormous"
        #expect(WorkloadPlan(workload: w, contract: Self.contract) == nil)
        #expect(Self.contract.platform.size(for: w) == nil)
    }
}
