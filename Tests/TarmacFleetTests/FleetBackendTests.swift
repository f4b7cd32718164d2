import Foundation
import Synchronization
import TarmacContract
import TarmacCore
import TarmacPlanning
import TarmacTesting
import Testing
@testable import TarmacFleet

/// A cluster for the Fleet's routing tests: a FakeBackend that can stop answering, and says which workloads it holds.
final class FakeCluster: ClusterBackend, Sendable {
    let fake: FakeBackend
    let answering = Mutex(true)
    let accepted = Mutex<[String]>([])
    let reconciled = Mutex<[[String]]>([])

    init(nodes: [NodeInventory]) {
        fake = FakeBackend(reportsStarts: true)
        fake.setNodes(nodes)
    }

    func probe() async -> Bool { answering.withLock { $0 } }
    func holds(workload: String) async -> Bool { fake.launched.contains { $0.workload == workload } && !fake.released.contains(workload) }
    func nodes() async throws -> [NodeInventory] { try await fake.nodes() }
    func accept(_ workload: ActiveWorkload) async throws { Issue.record("a fleet registers workloads in a cluster; it does not accept them there") }
    func register(_ workload: ActiveWorkload) async throws { accepted.withLock { $0.append(workload.id) } }
    func reconcile(_ active: [ActiveWorkload]) async throws { reconciled.withLock { $0.append(active.map(\.id).sorted()) } }
    func launch(_ pods: [PodLaunch]) async throws { try await fake.launch(pods) }
    func stop(workload: String, attempt: Int) async { await fake.stop(workload: workload, attempt: attempt) }
    func poll() async -> [PodExit] { await fake.poll() }
    func started() async -> [AttemptRef] { await fake.started() }
    func release(workload: String) async { await fake.release(workload: workload) }
    func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] { await fake.recover(workload: workload, attempt: attempt, pods: pods) }
    func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        try await fake.readLog(workload: workload, attempt: attempt, pod: pod, from: offset, max: max)
    }
    var reportsStarts: Bool { true }

    func setAnswering(_ on: Bool) { answering.withLock { $0 = on } }
}

@Suite struct FleetBackendTests {
    static func gpuNode(_ name: String, pool: String = "gpu") -> NodeInventory {
        NodeInventory(name: name, cpuMilli: 32_000, memoryMiB: 256 * 1024, gpus: 4, accelerator: "h100", pool: pool)
    }

    static func fleet(clock: ManualClock, lostAfter: TimeInterval = 5) -> (FleetBackend, FakeCluster, FakeCluster) {
        let east = FakeCluster(nodes: [gpuNode("gpu-a"), gpuNode("gpu-b"), gpuNode("cpu-a", pool: "cpu")])
        let west = FakeCluster(nodes: [gpuNode("gpu-a")])
        let fleet = FleetBackend(members: [.init(name: "east", backend: east, pools: ["gpu"]), .init(name: "west", backend: west)],
                                 lostTimeout: lostAfter, clock: clock)
        return (fleet, east, west)
    }

    static let plan: WorkloadPlan = {
        let dir = try! TemporaryDirectory()
        let contract = ContractLoader.load(try! dir.write("platform.yaml", FleetFixture.platform(east: "e", west: "w"))).contract!
        let text = """
        apiVersion: tarmac.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: t, team: search, env: dev}
        spec: {size: g4, image: registry.example/train:1, command: [python, train.py]}
        """
        return WorkloadPlan(workload: DocumentReader.read(text: text, file: "t.yaml").workloads[0], contract: contract, rules: KindRules(maxAttempts: 3))!
    }()

    static func workload(_ id: String) -> ActiveWorkload { ActiveWorkload(id: id, plan: plan, attempt: 0, holdsCapacity: false) }

    static func pods(_ id: String, attempt: Int, on nodes: [String]) -> [PodLaunch] {
        nodes.enumerated().map { i, n in
            PodLaunch(workload: id, attempt: attempt, pod: i, command: ["true"], environment: [:], memoryLimitBytes: 1 << 30, cpuMilli: 1000,
                      placement: PodPlacement(node: n, gpus: [0], gpuMilli: 1000), deadline: nil, completionIndices: [], graceSeconds: 1)
        }
    }

    @Test func itsNodesAreTheClustersNodesByClusterAndOnlyThePoolsEachOffers() async throws {
        let clock = ManualClock()
        let (fleet, _, _) = Self.fleet(clock: clock)
        await fleet.probeAll()
        let nodes = try await fleet.nodes()
        #expect(nodes.map(\.name) == ["east/gpu-a", "east/gpu-b", "west/gpu-a"])
        #expect(nodes.map(\.cluster) == ["east", "east", "west"])
    }

    @Test func anAttemptIsCreatedAndLaunchedInTheClusterItWasPlacedOn() async throws {
        let clock = ManualClock()
        let (fleet, east, west) = Self.fleet(clock: clock)
        await fleet.probeAll()
        try await fleet.reconcile([])
        try await fleet.accept(Self.workload("w1"))
        try await fleet.launch(Self.pods("w1", attempt: 1, on: ["west/gpu-a"]))
        #expect(west.accepted.withLock { $0 } == ["w1"] && east.accepted.withLock { $0 }.isEmpty)
        #expect(west.fake.launched.map(\.placement.node) == ["gpu-a"])
        #expect(await fleet.cluster(of: "w1") == "west")
        // A gang split over two clusters is refused, not half-started.
        try await fleet.accept(Self.workload("w2"))
        await #expect(throws: BackendRejection.self) { try await fleet.launch(Self.pods("w2", attempt: 1, on: ["east/gpu-a", "west/gpu-a"])) }
        // Its exits and starts come through, and only its cluster is asked to stop it.
        west.fake.start("w1", attempt: 1)
        #expect(await fleet.started().map(\.workload) == ["w1"])
        await fleet.stop(workload: "w1", attempt: 1)
        #expect(west.fake.stopped.map(\.workload) == ["w1"] && east.fake.stopped.isEmpty)
        #expect(await fleet.clusterReports().map(\.dispatched) == [0, 1])
    }

    @Test func aClusterThatStopsAnsweringIsCordonedThenLostAndItsWorkMovesThenItsLeftoversGo() async throws {
        let clock = ManualClock()
        let (fleet, east, west) = Self.fleet(clock: clock, lostAfter: 5)
        await fleet.probeAll()
        try await fleet.reconcile([])
        try await fleet.accept(Self.workload("w1"))
        try await fleet.launch(Self.pods("w1", attempt: 1, on: ["east/gpu-a", "east/gpu-b"]))
        east.setAnswering(false)
        clock.advance(by: 1)
        await fleet.probeAll()
        // Cordoned: its nodes stay (what runs there is still counted) but in no pool; nothing is launched there.
        let nodes = try await fleet.nodes()
        #expect(nodes.filter { $0.cluster == "east" }.allSatisfy { $0.pool == nil } && nodes.count == 3)
        // Placed there just before it stopped answering: not failed, back to the queue as from a lost cluster.
        try await fleet.accept(Self.workload("w3"))
        try await fleet.launch(Self.pods("w3", attempt: 1, on: ["east/gpu-b"]))
        let refused = await fleet.poll()
        #expect(refused.map(\.reason) == [.clusterLost] && refused.first?.detail == "cluster east did not answer at launch")
        #expect(!east.fake.launched.contains { $0.workload == "w3" })
        #expect(await fleet.poll().isEmpty)
        // Not yet lost 4.9 s after it stopped answering; lost at 5 s: both pods end as clusterLost, once.
        clock.advance(by: 4.9)
        await fleet.probeAll()
        #expect(await fleet.poll().isEmpty)
        clock.advance(by: 0.1)
        await fleet.probeAll()
        let exits = await fleet.poll()
        #expect(exits.map(\.reason) == [.clusterLost, .clusterLost] && exits.map(\.pod) == [0, 1] && exits.allSatisfy { $0.attempt == 1 })
        #expect(exits.first?.detail == "cluster east did not answer for 5s")
        #expect(await fleet.poll().isEmpty)
        #expect(try await fleet.nodes().map(\.name) == ["west/gpu-a"])
        // The next attempt runs on west; east comes back: reconciled, and w1's objects there deleted.
        try await fleet.launch(Self.pods("w1", attempt: 2, on: ["west/gpu-a"]))
        east.setAnswering(true)
        clock.advance(by: 30)
        await fleet.probeAll()
        #expect(east.fake.released == ["w1"] && west.fake.released.isEmpty)
        #expect(east.reconciled.withLock { $0 } == [[], ["w1", "w3"]], "reconciled with the workloads Tarmac keeps")
        let reports = await fleet.clusterReports()
        #expect(reports.map(\.failovers) == [1, 0] && reports.allSatisfy(\.reachable))
        #expect(try await fleet.nodes().count == 3)
    }

    @Test func aStopThatCannotReachItsClusterIsReportedStoppedWhenTheClusterIsLost() async throws {
        let clock = ManualClock()
        let (fleet, east, _) = Self.fleet(clock: clock, lostAfter: 2)
        await fleet.probeAll()
        try await fleet.reconcile([])
        try await fleet.accept(Self.workload("w1"))
        try await fleet.launch(Self.pods("w1", attempt: 1, on: ["east/gpu-a"]))
        east.setAnswering(false)
        await fleet.probeAll()
        await fleet.stop(workload: "w1", attempt: 1)
        clock.advance(by: 2)
        await fleet.probeAll()
        #expect(await fleet.poll().map(\.reason) == [.stopped])
    }
}

@Suite struct ClusterHealthTests {
    @Test func reachableUnreachableLostBack() {
        var h = ClusterHealth()
        let t0 = Date(timeIntervalSince1970: 1000)
        #expect(h.observe(answered: true, at: t0) == nil && h.reachable)
        #expect(h.observe(answered: false, at: t0 + 1) == .unreachable && !h.reachable)
        #expect(h.observe(answered: false, at: t0 + 2) == nil)
        #expect(h.evaluate(now: t0 + 5.9, timeout: 5) == nil)
        #expect(h.evaluate(now: t0 + 6, timeout: 5) == .lost && h.lost)
        #expect(h.evaluate(now: t0 + 9, timeout: 5) == nil)
        #expect(h.observe(answered: true, at: t0 + 10) == .back(wasLost: true) && h.reachable && !h.lost && h.losses == 1)
        #expect(h.lastContact == t0 + 10)
        // A short absence comes back without a loss.
        #expect(h.observe(answered: false, at: t0 + 11) == .unreachable)
        #expect(h.observe(answered: true, at: t0 + 12) == .back(wasLost: false) && h.losses == 1)
    }

    @Test func aClusterThatNeverAnsweredIsUnreachableFromItsFirstProbe() {
        var h = ClusterHealth()
        #expect(h.observe(answered: false, at: Date(timeIntervalSince1970: 0)) == .unreachable)
        #expect(!h.reachable && h.lastContact == nil)
    }
}
