import Foundation
import TarmacContract
import TarmacModel
import TarmacPlanning
import TarmacTesting
import Testing

@Suite struct WorkloadPlanTests {
    static let contract: Contract = ContractLoader.load(Fixtures.examplePlatform).contract!
    static let rules = KindRules(maxAttempts: 3)

    static func workload(_ file: String) throws -> Workload {
        try #require(DocumentReader.read(file: Fixtures.exampleWorkloads + "/" + file).workloads.first)
    }

    /// Every example resolves to a size of its class, pools that can host it, and the stored form of the plan reads
    /// back the same (a restart uses it instead of the document).
    @Test(arguments: Fixtures.files(in: Fixtures.exampleWorkloads).map { ($0 as NSString).lastPathComponent })
    func everyExampleResolvesAndItsStoredFormReadsBack(_ file: String) throws {
        let w = try Self.workload(file)
        let plan = try #require(WorkloadPlan(workload: w, contract: Self.contract, rules: Self.rules))
        let platform = Self.contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        #expect(plan.size == platform.size(for: w) && plan.size.workloadClass == w.workloadClass)
        #expect(!plan.poolNames.isEmpty && plan.poolNames.allSatisfy { platform.pools[$0]?.canHost(plan.size) == true })
        #expect(plan.version == WorkloadPlan.version)
        let stored = try JSONDecoder().decode(WorkloadPlan.self, from: JSONEncoder().encode(plan))
        #expect(stored.size.reference == plan.size.reference && stored.poolNames == plan.poolNames && stored.priority == plan.priority
            && stored.maxAttempts == plan.maxAttempts && stored.workload.command == w.command)
    }

    /// What the kind decides (TarmacKinds gives it) is kept as given, whatever the document.
    @Test func theKindsRulesAreKeptAsGiven() throws {
        let w = try Self.workload("train-cpu.yaml")
        for rules in [KindRules(maxAttempts: 1), KindRules(maxAttempts: 7, minRuntime: 60_000), KindRules(maxAttempts: 3, longRunning: true)] {
            let plan = try #require(WorkloadPlan(workload: w, contract: Self.contract, rules: rules))
            #expect(plan.maxAttempts == rules.maxAttempts && plan.minRuntime == rules.minRuntime && plan.isService == rules.longRunning)
        }
    }

    /// A size the contract does not have resolves to no plan (the validator reports it; nothing else looks it up).
    @Test func anUnknownSizeHasNoPlan() throws {
        var w = try Self.workload("train-cpu.yaml")
        w.size = "cpu-enormous"
        #expect(WorkloadPlan(workload: w, contract: Self.contract, rules: Self.rules) == nil)
        #expect(Self.contract.platform.size(for: w) == nil)
    }
}
