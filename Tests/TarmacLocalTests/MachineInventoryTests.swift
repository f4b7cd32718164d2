import Testing
import TarmacContract
import TarmacLocal
import TarmacTesting

@Suite struct MachineInventoryTests {
    @Test func parsesNvidiaSmiAndMatchesTheContractsAccelerators() throws {
        let text = """
            GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-6f1c2d3e-aaaa-bbbb-cccc-000000000001)
            GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-6f1c2d3e-aaaa-bbbb-cccc-000000000002)
            No devices were found
            GPU 2: NVIDIA L4 (UUID: GPU-77)

            """
        let gpus = MachineInventory.parse(text)
        #expect(gpus.map(\.index) == [0, 1, 2])
        #expect(gpus.map(\.name) == ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "NVIDIA L4"])
        let platform = try #require(ContractLoader.load(Fixtures.examplePlatform).contract).platform
        // The contract's products are node labels (NVIDIA-H100-80GB-HBM3): matched ignoring case, spaces and dashes.
        #expect(MachineInventory.accelerator(named: gpus[0].name, in: platform) == "h100")
        #expect(MachineInventory.accelerator(named: gpus[2].name, in: platform) == "l4")
        #expect(MachineInventory.accelerator(named: "NVIDIA GeForce RTX 4090", in: platform) == nil)
        #expect(MachineInventory.accelerator(named: "NVIDIA L40S", in: platform) == nil, "an L40S is not an L4")
    }
}
