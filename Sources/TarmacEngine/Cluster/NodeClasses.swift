/// Nodes grouped by state: nodes with the same GPU model, pool, free CPU, free memory and free share of each GPU (in
/// index order) are interchangeable for a placement decision, so a policy scores one node of each group instead of
/// every node. Kept current by `ClusterState` on every change; the members of a group are a bit set, so the group's
/// lowest-index node (the one a tie goes to) is found without scanning the cluster.
public struct NodeClasses: Sendable {
    /// What makes two nodes interchangeable.
    struct Key: Hashable {
        var model: UInt8
        var gpuCount: Int8
        var pool: Int16
        var cluster: Int16 = 0
        var cpu: Int32
        var memory: Int32
        var gpuLow: UInt64
        var gpuHigh: UInt64
    }

    private var ids: [Key: Int32] = [:]
    /// Per class: its members as bits over node indices, how many, and its lowest member (-1 when empty).
    private var members: [[UInt64]] = []
    private(set) var counts: [Int32] = []
    private var lowest: [Int32] = []
    /// Per node, its class.
    private(set) var classOf: [Int32] = []
    /// Classes with at least one member, and each class's position in that list (-1 when empty).
    private(set) var live: [Int32] = []
    private var livePosition: [Int32] = []
    private var nodeCount = 0

    init() {}

    /// How many groups have nodes now.
    public var liveCount: Int { live.count }

    /// The lowest-index node of a class.
    @inline(__always) func first(_ c: Int32) -> Int { Int(lowest[Int(c)]) }

    mutating func add(node n: Int, key: Key) {
        precondition(n == nodeCount, "nodes are added in order")
        nodeCount += 1
        classOf.append(-1)
        join(n, id(for: key))
    }

    /// Moves a node to the class of its new state.
    mutating func update(node n: Int, key: Key) {
        let to = id(for: key)
        let from = classOf[n]
        if from == to { return }
        leave(n, from)
        join(n, to)
    }

    private mutating func id(for key: Key) -> Int32 {
        if let c = ids[key] { return c }
        let c = Int32(members.count)
        ids[key] = c
        members.append([])
        counts.append(0)
        lowest.append(-1)
        livePosition.append(-1)
        return c
    }

    private mutating func join(_ n: Int, _ c: Int32) {
        let ci = Int(c)
        classOf[n] = c
        let word = n >> 6
        if members[ci].count <= word {
            members[ci].append(contentsOf: repeatElement(0, count: word + 1 - members[ci].count))
        }
        members[ci][word] |= 1 << UInt64(n & 63)
        counts[ci] += 1
        if lowest[ci] < 0 || n < Int(lowest[ci]) { lowest[ci] = Int32(n) }
        if counts[ci] == 1 {
            livePosition[ci] = Int32(live.count)
            live.append(c)
        }
    }

    private mutating func leave(_ n: Int, _ c: Int32) {
        let ci = Int(c)
        members[ci][n >> 6] &= ~(1 << UInt64(n & 63))
        counts[ci] -= 1
        if counts[ci] == 0 {
            lowest[ci] = -1
            let at = Int(livePosition[ci])
            let last = live.removeLast()
            if at < live.count {
                live[at] = last
                livePosition[Int(last)] = Int32(at)
            }
            livePosition[ci] = -1
        } else if Int(lowest[ci]) == n {
            // The next member is above `n`: scan on from its word.
            var w = n >> 6
            while members[ci][w] == 0 { w += 1 }
            lowest[ci] = Int32(w << 6 | members[ci][w].trailingZeroBitCount)
        }
    }
}
