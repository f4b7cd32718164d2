/// A machine the backend can run pods on.
public struct NodeInventory: Codable, Sendable, Hashable {
    public var name: String
    public var cpuMilli: Int
    public var memoryMiB: Int
    public var gpus: Int
    /// The accelerator name in the contract (nil: no GPU).
    public var accelerator: String?
    /// The contract's pool this node belongs to (nil: the machine is not split into pools, as with the local backend).
    public var pool: String?
    /// The value of the pool's topology label (nodes sharing it form one domain for gangs that must stay together).
    public var domain: String?

    public init(name: String, cpuMilli: Int, memoryMiB: Int, gpus: Int, accelerator: String?, pool: String? = nil, domain: String? = nil) {
        self.name = name
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpus = gpus
        self.accelerator = accelerator
        self.pool = pool
        self.domain = domain
    }
}
