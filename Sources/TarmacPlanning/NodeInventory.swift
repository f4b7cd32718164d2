import TarmacAPI

/// A machine the backend can run pods on: name, CPU, memory, GPUs, the contract's accelerator, pool and topology
/// domain (the API's `NodeView`, as `GET /v1/platform` lists it).
public typealias NodeInventory = NodeView
