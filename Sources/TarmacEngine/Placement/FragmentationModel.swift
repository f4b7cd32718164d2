/// A pod shape of the expected workload and how often it occurs (shares sum to 1).
public struct TypicalPod: Hashable, Sendable {
    public var shape: PodShape
    public var share: Double
    public init(shape: PodShape, share: Double) {
        self.shape = shape
        self.share = share
    }

    /// The most frequent shapes of a pod list that together cover `coverage` of it (the FGD paper uses 95%),
    /// taken in steps of `step` shapes, with shares normalized over what was kept.
    public static func from(_ pods: [PodShape], coverage: Double = 0.95, step: Int = 10) -> [TypicalPod] {
        var counts: [PodShape: Int] = [:]
        for p in pods { counts[p, default: 0] += 1 }
        let ranked = counts.sorted { a, b in
            a.value != b.value ? a.value > b.value
                : (a.key.cpuMilli, a.key.gpuMilli, a.key.gpuCount, a.key.memoryMiB, a.key.models.bits) < (b.key.cpuMilli, b.key.gpuMilli, b.key.gpuCount, b.key.memoryMiB, b.key.models.bits)
        }
        let total = Double(pods.count)
        var kept = 0, cumulative = 0.0
        while cumulative < coverage * total && kept < ranked.count {
            let next = min(ranked.count, kept + step)
            for i in kept..<next { cumulative += Double(ranked[i].value) }
            kept = next
        }
        return ranked.prefix(kept).map { TypicalPod(shape: $0.key, share: Double($0.value) / cumulative) }
    }
}

/// The expected GPU fragmentation of a node (FGD, USENIX ATC'23): for each typical pod, the idle GPU thousandths
/// that pod could not use, weighted by how often it occurs. A node's value depends only on its GPU model, its free CPU
/// and the multiset of its GPUs' free shares, so values are memoized by that state.
public struct FragmentationModel: Sendable {
    public let typical: [TypicalPod]
    private var memo = StateMemo()
    /// Each node's current value, with the free CPU and GPU it was computed for (revalidated on every use).
    private var nodeValue: [Double] = []
    private var nodeValueState: [RawState] = []
    private var nodeKey: [StateKey] = []
    private var nodeKeyState: [RawState] = []

    /// A node's free resources exactly as they are (GPUs in index order): cheap to take and to compare, so caches
    /// per node are checked exactly, never by a hash.
    struct RawState: Equatable {
        var cpu: Int32
        var memory: Int32
        var low: UInt64
        var high: UInt64
        static let none = RawState(cpu: -2, memory: -2, low: 0, high: 0)
    }

    @inline(__always) static func raw(_ n: Int, _ c: ClusterState) -> RawState {
        var low: UInt64 = 0, high: UInt64 = 0
        let count = Int(c.gpuCount[n])
        for i in 0..<min(count, 4) { low |= UInt64(UInt16(bitPattern: c.free(n, i))) << (16 * UInt64(i)) }
        for i in 4..<max(4, count) { high |= UInt64(UInt16(bitPattern: c.free(n, i))) << (16 * UInt64(i - 4)) }
        return RawState(cpu: c.cpuFree[n], memory: c.memoryFree[n], low: low, high: high)
    }

    /// Whether a node's free memory counts: the FGD paper's model ignores it (a pod that lacks memory still
    /// "fits"); Tarmac's counts every idle GPU of a node as stranded for a pod that lacks memory there.
    public let countsMemory: Bool

    public init(typical: [TypicalPod], countsMemory: Bool = false) {
        self.typical = typical
        self.countsMemory = countsMemory
    }

    struct StateKey: Hashable {
        var a: UInt64
        var b: UInt64
    }

    /// Free shares sorted descending, padded with zeros (a GPU with nothing free serves nobody, like an absent one).
    @inline(__always) static func key(model: UInt8, cpuFree: Int32, memoryFree: Int32, gpus: inout (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16), count: Int) -> StateKey {
        withUnsafeMutableBytes(of: &gpus) { raw in
            let g = raw.bindMemory(to: Int16.self)
            // insertion sort, descending, of at most 8 values (none on a CPU-only node)
            for i in stride(from: 1, to: count, by: 1) {
                let v = g[i]
                var j = i - 1
                while j >= 0 && g[j] < v { g[j + 1] = g[j]; j -= 1 }
                g[j + 1] = v
            }
            var b: UInt64 = 0
            for i in 0..<6 { b = b << 10 | UInt64(i < count ? UInt16(g[i]) : 0) }
            let g6 = UInt64(count > 6 ? UInt16(g[6]) : 0), g7 = UInt64(count > 7 ? UInt16(g[7]) : 0)
            let cpu = UInt64(UInt32(max(0, min(cpuFree, (1 << 18) - 1))))
            let mem = UInt64(UInt32(max(0, min(memoryFree, (1 << 20) - 1))))
            return StateKey(a: UInt64(model) << 58 | cpu << 40 | mem << 20 | g6 << 10 | g7, b: b)
        }
    }

    /// Expected fragmentation of a node state given as its free GPU shares.
    mutating func value(model: UInt8, cpuFree: Int32, memoryFree: Int32, gpus: (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16), count: Int) -> Double {
        var g = gpus
        let mem = countsMemory ? memoryFree : 0
        let k = Self.key(model: model, cpuFree: cpuFree, memoryFree: mem, gpus: &g, count: count)
        if let v = memo.get(k.a, k.b) { return v }
        let v = compute(model: model, cpuFree: cpuFree, memoryFree: mem, gpus: g, count: count)
        memo.set(k.a, k.b, v)
        return v
    }

    private func compute(model: UInt8, cpuFree: Int32, memoryFree: Int32, gpus: (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16), count: Int) -> Double {
        var g = gpus
        return withUnsafeBytes(of: &g) { raw in
            let free = raw.bindMemory(to: Int16.self)
            var total = 0
            for i in 0..<count { total += Int(free[i]) }
            var f = 0.0
            for t in typical {
                let s = t.shape
                // A pod that takes no GPU, cannot use this model, lacks CPU, or lacks GPUs: every idle share is a fragment to it.
                guard s.gpuCount > 0, model != 0, s.models.allows(model), cpuFree >= s.cpuMilli, !countsMemory || memoryFree >= s.memoryMiB else {
                    f += t.share * Double(total)
                    continue
                }
                var fitting = 0, unusable = 0
                for i in 0..<count {
                    if free[i] >= s.gpuMilli { fitting += 1 } else { unusable += Int(free[i]) }
                }
                f += t.share * Double(fitting >= Int(s.gpuCount) ? unusable : total)
            }
            return f
        }
    }

    /// A node's exact state (GPU model, free CPU and memory, multiset of free GPU shares), cached per node.
    /// Two nodes with the same key are interchangeable for placement decisions that depend only on the node's state.
    mutating func stateKey(node n: Int, in c: ClusterState) -> StateKey {
        let state = Self.raw(n, c)
        if nodeKey.count != c.count {
            nodeKey = Array(repeating: StateKey(a: 0, b: 0), count: c.count)
            nodeKeyState = Array(repeating: .none, count: c.count)
        }
        if nodeKeyState[n] == state { return nodeKey[n] }
        var now: (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16) = (0, 0, 0, 0, 0, 0, 0, 0)
        let count = Int(c.gpuCount[n])
        withUnsafeMutableBytes(of: &now) { raw in
            let g = raw.bindMemory(to: Int16.self)
            for i in 0..<count { g[i] = c.free(n, i) }
        }
        // The exact state, memory included, whatever the model counts: nodes that differ in memory may differ in fit.
        let k = Self.key(model: c.model[n], cpuFree: c.cpuFree[n], memoryFree: c.memoryFree[n], gpus: &now, count: count)
        nodeKey[n] = k
        nodeKeyState[n] = state
        return k
    }

    /// Fragmentation of node `n` now, and if `pod` were put on GPUs `gpus`.
    mutating func delta(_ pod: PodShape, node n: Int, gpus: GPUSet, in c: ClusterState) -> (before: Double, after: Double) {
        var now: (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16) = (0, 0, 0, 0, 0, 0, 0, 0)
        let count = Int(c.gpuCount[n])
        withUnsafeMutableBytes(of: &now) { raw in
            let g = raw.bindMemory(to: Int16.self)
            for i in 0..<count { g[i] = c.free(n, i) }
        }
        if nodeValue.count != c.count {
            nodeValue = Array(repeating: 0, count: c.count)
            nodeValueState = Array(repeating: .none, count: c.count)
        }
        let state = Self.raw(n, c)
        let before: Double
        if nodeValueState[n] == state {
            before = nodeValue[n]
        } else {
            before = value(model: c.model[n], cpuFree: c.cpuFree[n], memoryFree: c.memoryFree[n], gpus: now, count: count)
            nodeValue[n] = before
            nodeValueState[n] = state
        }
        var after = now
        withUnsafeMutableBytes(of: &after) { raw in
            let g = raw.bindMemory(to: Int16.self)
            gpus.forEach { g[$0] -= pod.gpuMilli }
        }
        return (before, value(model: c.model[n], cpuFree: c.cpuFree[n] - pod.cpuMilli, memoryFree: c.memoryFree[n] - pod.memoryMiB, gpus: after, count: count))
    }
}
