@testable import TarmacCore
import Foundation
import Testing
import TarmacAPI
import TarmacContract
import TarmacStoreSQLite
import TarmacTesting
@testable import TarmacRuntime

/// The benchmark-only backend: the contract's pools as nodes, `sleep N` pods that end by themselves, others that run
/// until stopped, and nothing that survives a restart.
@Suite struct SimulatedBackendTests {
    static func launch(_ workload: String, _ command: [String], pod: Int = 0, indices: [Int] = []) -> PodLaunch {
        PodLaunch(workload: workload, attempt: 1, pod: pod, command: command, environment: [:], memoryLimitBytes: 1 << 20, cpuMilli: 1000,
                  placement: PodPlacement(node: "cpu-0", gpus: [], gpuMilli: 0), deadline: nil, completionIndices: indices, graceSeconds: 1)
    }

    @Test func durationsComeFromSleepCommands() {
        #expect(SimulatedBackend.duration(["sleep", "0.25"]) == .milliseconds(250))
        #expect(SimulatedBackend.duration(["/bin/sleep", "2"]) == .seconds(2))
        #expect(SimulatedBackend.duration(["sh", "-c", "sleep 1.5"]) == .milliseconds(1500))
        #expect(SimulatedBackend.duration(["python3", "train.py"]) == nil)
        #expect(SimulatedBackend.duration(["sleep", "-1"]) == nil)
        #expect(SimulatedBackend.duration(["sleep", "soon"]) == nil)
    }

    /// The loop does not wait for its tick (an hour here) to admit what was submitted, nor to learn that a pod ended at a
    /// time the backend knew in advance: both wake it.
    @Test func submitsAndKnownEndsWakeTheLoop() async throws {
        let dir = try TemporaryDirectory()
        let contract = try #require(ContractLoader.load(Fixtures.examplePlatform).contract)
        let cp = ControlPlane(contract: contract, store: try SQLiteStore(path: dir.path + "/t.db"), backend: SimulatedBackend(platform: contract.platform),
                              config: ControlPlaneConfig(tick: .seconds(3600), idleCycle: .seconds(3600)))
        try await cp.start()
        let loop = Task { await cp.run() }
        defer { loop.cancel() }
        let doc = """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: quick, team: platform, env: dev, owner: ops@acme.example}
        spec: {size: cpu-small, tasks: 1, parallelism: 1, image: docker.io/library/python:3.12-slim, command: [sleep, "0.2"]}
        """
        let admin = Principal(tokenID: "t", name: "ops", role: .admin, team: nil)
        let id = try await cp.submit(text: doc, requestID: nil, by: admin, runsImages: true).workload.id
        // A guard, not a wait for the behaviour: without wake-ups this would take an hour.
        let guardEnd = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < guardEnd, await cp.current(id)?.state.isTerminal != true { try await Task.sleep(for: .milliseconds(20)) }
        let e = try #require(await cp.current(id))
        #expect(e.state == .succeeded, "\(e.state) \(e.message ?? "")")
    }

    @Test func podsEndByThemselvesOrWhenStopped() async throws {
        let contract = try #require(ContractLoader.load(Fixtures.examplePlatform).contract)
        let backend = SimulatedBackend(platform: contract.platform)
        let nodes = try await backend.nodes()
        #expect(nodes.count == contract.platform.pools.values.map(\.nodes).reduce(0, +))
        #expect(nodes.contains { $0.pool == "train-h100" && $0.gpus == 8 && $0.accelerator == "h100" })
        try await backend.launch([Self.launch("quick", ["sleep", "0"]), Self.launch("long", ["sleep", "3600"]), Self.launch("server", ["serve"])])
        let first = await backend.poll()
        #expect(first.map(\.workload) == ["quick"] && first[0].succeeded)
        await backend.stop(workload: "server", attempt: 1)
        let second = await backend.poll()
        #expect(second.map(\.workload) == ["server"] && second[0].reason == .stopped)
        #expect(await backend.poll().isEmpty, "the long one still runs")
        let recovered = await backend.recover(workload: "long", attempt: 1, pods: 1)
        guard case .finished(let exit) = recovered.first else { Issue.record("a restart keeps nothing: \(recovered)"); return }
        #expect(exit.reason == .lost)
    }
}
