import TarmacAPI
import TarmacCore

// The stored values as the API shows them: the wire types may change shape without the store changing with them.

extension CheckpointView {
    public init(_ m: CheckpointMark) { self.init(at: m.at, attempt: m.attempt, step: m.step, location: m.location) }
}

extension PlacementView {
    public init(_ p: PodPlacement) { self.init(node: p.node, gpus: p.gpus, gpuMilli: p.gpuMilli) }
}
