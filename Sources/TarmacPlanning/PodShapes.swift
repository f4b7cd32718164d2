import TarmacEngine
import TarmacModel

/// The one translation of a contract's size into the engine's pod shape.
public enum PodShapes {
    /// GPU models are named by their index in `models` (added there when new).
    public static func shape(of size: Size, models c: inout ClusterState) -> PodShape {
        let gpus = size.gpus
        return PodShape(cpuMilli: Int32(clamping: size.cpu.millis), memoryMiB: Int32(clamping: size.memory.bytes >> 20),
                        gpuCount: gpus.isFractional ? 1 : gpus.wholeGPUs, gpuMilli: gpus.isFractional ? gpus.thousandths : 1000,
                        models: size.accelerator.map { .only([c.modelID($0)]) } ?? .any)
    }

    /// Every size of the contract, equally weighted: what the fragmentation-aware policies expect to place.
    public static func typical(_ platform: Platform, models c: inout ClusterState) -> [TypicalPod] {
        var shapes: [PodShape] = []
        for cls in platform.sizes.keys.sorted() {
            for s in platform.sizes[cls]!.values.sorted(by: { $0.name < $1.name }) { shapes.append(shape(of: s, models: &c)) }
        }
        return TypicalPod.from(shapes, coverage: 1)
    }
}
