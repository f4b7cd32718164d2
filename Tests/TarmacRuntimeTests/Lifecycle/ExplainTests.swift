import Testing
import TarmacEngine
import TarmacPlanning

/// `why` speaks the contract's names and the user's units: the engine's model indices never reach users.
@Suite struct ExplainTests {
    let engine = EngineCluster(contract: Lifecycle.contract, nodes: [
        NodeInventory(name: "h100-0", cpuMilli: 96000, memoryMiB: 1 << 20, gpus: 8, accelerator: "h100", pool: "h100"),
    ])

    @Test func quotaReasonsNameTheAcceleratorAndUseUsersUnits() throws {
        let h100 = try #require(engine.cluster.modelNames.firstIndex(of: "h100"))
        let gpu = WaitReason.quota(QuotaShortfall(resource: "gpu[\(h100)]", needed: 16000, available: 8000, detail: "cohort 'research' has no more to lend"))
        #expect(engine.explain(gpu, team: "search") == "quota: needs 16 h100 GPUs, 8 available to team search (cohort 'research' has no more to lend)")
        let half = WaitReason.quota(QuotaShortfall(resource: "gpu[\(h100)]", needed: 500, available: 0, detail: "beyond the borrowing limit"))
        #expect(engine.explain(half, team: "ads") == "quota: needs 0.5 h100 GPUs, 0 available to team ads (beyond the borrowing limit)")
        let memory = WaitReason.quota(QuotaShortfall(resource: "memory", needed: 102_400, available: 1024, detail: "beyond nominal quota, and the team is in no cohort"))
        #expect(engine.explain(memory, team: "search") == "quota: needs 100Gi, 1Gi available to team search (beyond nominal quota, and the team is in no cohort)")
        let cpu = WaitReason.quota(QuotaShortfall(resource: "cpu", needed: 4000, available: 1500, detail: "d"))
        #expect(engine.explain(cpu, team: "search") == "quota: needs 4 CPUs, 1.5 available to team search (d)")
        for r in [gpu, half, memory, cpu] { #expect(!engine.explain(r, team: "t").contains("gpu[")) }
    }
}
