/// The free and total resources of every node, struct-of-arrays for speed. A value: a scheduling cycle
/// works on a copy, so a decision never sees a half-applied change.
public struct ClusterState: Sendable {
    public static let maxGPUsPerNode = 8

    public var names: [String] = []
    /// GPU model id per node (0 = no GPU model); names in `modelNames`.
    public var model: [UInt8] = []
    public var modelNames: [String] = ["none"]
    public var cpuCapacity: [Int32] = []
    public private(set) var cpuFree: [Int32] = []
    public var memoryCapacity: [Int32] = []
    public private(set) var memoryFree: [Int32] = []
    public var gpuCount: [Int8] = []
    /// Free thousandths per GPU, `maxGPUsPerNode` slots per node.
    public private(set) var gpuFree: [Int16] = []
    /// Pool index per node, and the topology domain (rack, zone) per node, for gangs that must stay in one.
    public private(set) var pool: [Int16] = []
    public private(set) var domain: [Int32] = []
    /// The nodes of each topology domain, in index order.
    public private(set) var nodesByDomain: [Int32: [Int]] = [:]
    /// Domains in a dense numbering (per node its number; per number the domain and its free GPU thousandths in all).
    public private(set) var domainNumber: [Int32] = []
    public private(set) var domains: [Int32] = []
    public private(set) var domainGPUFree: [Int] = []
    /// The cluster of each node (0 when there is one), and how many there are: a gang of several pods never spans two.
    public private(set) var cluster: [Int16] = []
    public private(set) var clusterCount = 1
    /// Nodes grouped by state, kept current by every change: what policies score.
    public private(set) var classes = NodeClasses()

    public init() {}

    public var count: Int { names.count }

    /// Adds a node; returns its index.
    @discardableResult
    public mutating func addNode(name: String, cpuMilli: Int32, memoryMiB: Int32, gpus: Int, model modelName: String?, pool: Int16 = 0, domain: Int32 = 0,
                                 cluster: Int16 = 0) -> Int {
        precondition(cluster >= 0, "cluster indices start at 0")
        precondition(gpus >= 0 && gpus <= Self.maxGPUsPerNode, "at most \(Self.maxGPUsPerNode) GPUs per node")
        let id: UInt8 = if let modelName { modelID(modelName) } else { 0 }
        names.append(name)
        model.append(id)
        cpuCapacity.append(cpuMilli)
        cpuFree.append(cpuMilli)
        memoryCapacity.append(memoryMiB)
        memoryFree.append(memoryMiB)
        gpuCount.append(Int8(gpus))
        for g in 0..<Self.maxGPUsPerNode { gpuFree.append(g < gpus ? 1000 : 0) }
        self.pool.append(pool)
        self.domain.append(domain)
        self.cluster.append(cluster)
        clusterCount = max(clusterCount, Int(cluster) + 1)
        nodesByDomain[domain, default: []].append(names.count - 1)
        if let k = domains.firstIndex(of: domain) {
            domainNumber.append(Int32(k))
            domainGPUFree[k] += gpus * 1000
        } else {
            domainNumber.append(Int32(domains.count))
            domains.append(domain)
            domainGPUFree.append(gpus * 1000)
        }
        classes.add(node: names.count - 1, key: classKey(names.count - 1))
        return names.count - 1
    }

    /// The state that makes nodes interchangeable (see `NodeClasses`).
    @inline(__always) func classKey(_ n: Int) -> NodeClasses.Key {
        var low: UInt64 = 0, high: UInt64 = 0
        let base = n &* Self.maxGPUsPerNode
        for i in 0..<4 { low |= UInt64(UInt16(bitPattern: gpuFree[base &+ i])) << (16 * UInt64(i)) }
        for i in 4..<8 { high |= UInt64(UInt16(bitPattern: gpuFree[base &+ i])) << (16 * UInt64(i - 4)) }
        return NodeClasses.Key(model: model[n], gpuCount: gpuCount[n], pool: pool[n], cluster: cluster[n], cpu: cpuFree[n], memory: memoryFree[n], gpuLow: low, gpuHigh: high)
    }

    /// Gives a node all its capacity back (nothing placed on it).
    public mutating func empty(node n: Int) {
        cpuFree[n] = cpuCapacity[n]
        memoryFree[n] = memoryCapacity[n]
        domainGPUFree[Int(domainNumber[n])] -= totalGPUFree(n)
        for g in 0..<Self.maxGPUsPerNode { gpuFree[n * Self.maxGPUsPerNode + g] = g < Int(gpuCount[n]) ? 1000 : 0 }
        domainGPUFree[Int(domainNumber[n])] += totalGPUFree(n)
        classes.update(node: n, key: classKey(n))
    }

    /// The id of a model name, registering it if new.
    public mutating func modelID(_ name: String) -> UInt8 {
        if let i = modelNames.firstIndex(of: name) { return UInt8(i) }
        precondition(modelNames.count < 64, "at most 63 GPU models")
        modelNames.append(name)
        return UInt8(modelNames.count - 1)
    }

    @inline(__always) public func free(_ node: Int, _ gpu: Int) -> Int16 { gpuFree[node &* Self.maxGPUsPerNode &+ gpu] }

    public func gpusFree(_ node: Int) -> [Int16] {
        (0..<Int(gpuCount[node])).map { free(node, $0) }
    }

    public func totalGPUFree(_ node: Int) -> Int {
        var s = 0
        for g in 0..<Int(gpuCount[node]) { s += Int(free(node, g)) }
        return s
    }

    public var totalGPUMilli: Int { gpuCount.reduce(0) { $0 + Int($1) } * 1000 }
    public var allocatedGPUMilli: Int { totalGPUMilli - (0..<count).reduce(0) { $0 + totalGPUFree($1) } }

    /// Whether a pod fits on a node right now: GPU model, CPU, memory, and enough GPUs with room.
    @inline(__always) public func fits(_ pod: PodShape, on node: Int) -> Bool {
        guard cpuFree[node] >= pod.cpuMilli, memoryFree[node] >= pod.memoryMiB else { return false }
        guard pod.gpuCount > 0 else { return true }
        guard model[node] != 0, pod.models.allows(model[node]) else { return false }
        var n = 0
        let base = node &* Self.maxGPUsPerNode
        for g in 0..<Int(gpuCount[node]) where gpuFree[base &+ g] >= pod.gpuMilli { n += 1 }
        return n >= Int(pod.gpuCount)
    }

    /// Puts a pod on a node and the given GPUs. The caller has checked `fits`.
    public mutating func assign(_ pod: PodShape, to placement: Placement) {
        let n = placement.node
        cpuFree[n] -= pod.cpuMilli
        memoryFree[n] -= pod.memoryMiB
        placement.gpus.forEach { g in gpuFree[n &* Self.maxGPUsPerNode &+ g] -= pod.gpuMilli }
        domainGPUFree[Int(domainNumber[n])] -= placement.gpus.count * Int(pod.gpuMilli)
        precondition(cpuFree[n] >= 0 && memoryFree[n] >= 0, "over-committed node \(names[n])")
        classes.update(node: n, key: classKey(n))
    }

    /// Gives a pod's resources back.
    public mutating func release(_ pod: PodShape, from placement: Placement) {
        let n = placement.node
        cpuFree[n] += pod.cpuMilli
        memoryFree[n] += pod.memoryMiB
        placement.gpus.forEach { g in gpuFree[n &* Self.maxGPUsPerNode &+ g] += pod.gpuMilli }
        domainGPUFree[Int(domainNumber[n])] += placement.gpus.count * Int(pod.gpuMilli)
        classes.update(node: n, key: classKey(n))
    }

    /// Free GPU thousandths per cluster, counting only nodes whose pool `pools` allows (nil: all).
    public func gpuFreeByCluster(pools: Set<Int16>?) -> [Int] {
        var free = [Int](repeating: 0, count: clusterCount)
        for n in 0..<count where pools?.contains(pool[n]) ?? true { free[Int(cluster[n])] += totalGPUFree(n) }
        return free
    }

    /// The first `count` fully free GPUs of a node, in index order (how devices are handed out whole).
    public func wholeGPUs(_ node: Int, count: Int) -> GPUSet? {
        var set = GPUSet()
        var need = count
        for g in 0..<Int(gpuCount[node]) where need > 0 && free(node, g) == 1000 {
            set.insert(g)
            need -= 1
        }
        return need == 0 ? set : nil
    }
}

/// A set of GPU indices on one node.
public struct GPUSet: Hashable, Sendable, CustomStringConvertible {
    public var bits: UInt8 = 0
    public init() {}
    public init(_ indices: [Int]) { for i in indices { insert(i) } }
    public mutating func insert(_ i: Int) { bits |= 1 << UInt8(i) }
    public var indices: [Int] { (0..<8).filter { bits & (1 << UInt8($0)) != 0 } }
    /// Calls `body` with each index, without allocating.
    @inline(__always) public func forEach(_ body: (Int) -> Void) {
        var b = bits
        while b != 0 {
            body(b.trailingZeroBitCount)
            b &= b &- 1
        }
    }
    /// The lowest index in the set.
    public var first: Int? { bits == 0 ? nil : bits.trailingZeroBitCount }
    public var count: Int { bits.nonzeroBitCount }
    public var description: String { indices.map(String.init).joined(separator: ",") }
}

/// Where a pod goes: a node and, for GPU pods, which devices.
public struct Placement: Hashable, Sendable {
    public var node: Int
    public var gpus: GPUSet
    public init(node: Int, gpus: GPUSet = GPUSet()) {
        self.node = node
        self.gpus = gpus
    }
}
