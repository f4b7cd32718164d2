import Foundation
import TarmacContract
import TarmacCore
import TarmacPlanning
import TarmacStoreSQLite
import TarmacTesting
import Testing
@testable import TarmacFleet
@testable import TarmacRuntime

/// The control plane over a Fleet of two in-process clusters, in virtual time: placement by environment, dataset and
/// room, a gang never split, and a lost cluster's work placed again (the same checks the rig test makes on two real
/// control planes, here without sockets).
@Suite struct FleetControlPlaneTests {
    static func gpu(_ name: String) -> NodeInventory { NodeInventory(name: name, cpuMilli: 32_000, memoryMiB: 256 * 1024, gpus: 4, accelerator: "h100", pool: "gpu") }

    @Test func placementFollowsTheContractAndALostClustersWorkMoves() async throws {
        let dir = try TemporaryDirectory()
        let contract = try #require(ContractLoader.load(try dir.write("platform.yaml", FleetFixture.platform(east: "e", west: "w", lostTimeout: "5s"))).contract)
        let clock = ManualClock()
        let east = FakeCluster(nodes: [Self.gpu("gpu-a"), Self.gpu("gpu-b")]), west = FakeCluster(nodes: [Self.gpu("gpu-a"), Self.gpu("gpu-b")])
        let fleet = FleetBackend(members: [.init(name: "east", backend: east), .init(name: "west", backend: west)], lostTimeout: 5, clock: clock)
        await fleet.probeAll()
        let cp = ControlPlane(contract: contract, store: try SQLiteStore(path: dir.path + "/t.db"), backend: fleet,
                              config: ControlPlaneConfig(tick: .seconds(3600), idleCycle: .seconds(0), inventoryRefresh: .seconds(0)), clock: clock)
        try await cp.start()
        let admin = Principal(tokenID: "t", name: "ops", role: .admin, team: nil)
        func submit(_ doc: String) async throws -> String {
            let id = try await cp.submit(text: doc, requestID: nil, by: admin, runsImages: true).workload.id
            await cp.tick()
            return id
        }
        func cluster(_ id: String) async -> String? { await cp.current(id)?.placements.first.flatMap { FleetNodeName.split($0.node)?.cluster } }

        let prod = try await submit(FleetFixture.training("prod-job", env: "prod"))
        let data = try await submit(FleetFixture.training("data-job", env: "dev", size: "g2", datasets: ["corpus"]))
        let placed = (await cluster(prod), await cluster(data))
        #expect(placed.0 == "east" && placed.1 == "east")
        #expect(east.fake.launched.map(\.workload) == [prod, data] && west.fake.launched.isEmpty)
        #expect(east.accepted.withLock { $0 } == [prod, data], "objects are created only where the attempt goes")
        // East has 2 GPUs left on one node: a 4-GPU pod fits only on west, and goes there at once.
        let spill = try await submit(FleetFixture.training("spill", env: "dev"))
        #expect(await cluster(spill) == "west")
        // 3 × 4 GPUs: 12 free in all after the above? No cluster has 3 free nodes: it waits, saying so.
        let gang = try await submit(FleetFixture.training("gang", env: "dev", workers: 3))
        #expect(await cp.current(gang)?.state == .queued)
        let why = try await cp.why(gang, by: admin, estimate: false)
        #expect(why.message.contains("of one cluster"), "\(why.message)")
        _ = try await cp.cancel(gang, by: admin)

        // East stops answering: nothing moves before clusterLostTimeout; then prod and data end as ClusterLost. prod
        // may run only on east, data's dataset is only there: both wait for it.
        east.setAnswering(false)
        clock.advance(by: 1)
        await fleet.probeAll()
        await cp.tick()
        let before = await cp.current(prod)?.state
        #expect(before == .admitted || before == .running)
        clock.advance(by: 5)
        await fleet.probeAll()
        await cp.tick()
        for id in [prod, data] {
            let e = try #require(await cp.current(id))
            #expect(e.state == .queued && e.cause == "ClusterLost", "\(e.state) \(e.message ?? "")")
        }
        #expect(await cp.current(spill)?.state.holdsCapacity == true, "west's work goes on")
        // East answers again: what prod and data left there is deleted, then they are placed there again.
        east.setAnswering(true)
        clock.advance(by: 1)
        await fleet.probeAll()
        #expect(Set(east.fake.released) == [prod, data])
        await cp.tick()
        for id in [prod, data] {
            let again = (await cluster(id), await cp.current(id)?.attempt)
            #expect(again.0 == "east" && again.1 == 2)
        }
        let reports = await fleet.clusterReports()
        #expect(reports.map(\.failovers) == [1, 0])
    }
}
