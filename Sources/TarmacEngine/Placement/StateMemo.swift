/// An open-addressing hash table from node states to fragmentation values, with a cheap multiplicative hash:
/// the hottest lookup of fragmentation-aware placement (Swift's Dictionary hashes with SipHash, which costs more
/// than computing most values).
struct StateMemo {
    private var keysA: [UInt64]
    private var keysB: [UInt64]
    private var values: [Double]
    private var used: [Bool]
    private var count = 0
    private var mask: Int

    init(capacity: Int = 1 << 16) {
        var c = 1
        while c < capacity { c <<= 1 }
        keysA = Array(repeating: 0, count: c)
        keysB = Array(repeating: 0, count: c)
        values = Array(repeating: 0, count: c)
        used = Array(repeating: false, count: c)
        mask = c - 1
    }

    @inline(__always) static func slot(_ a: UInt64, _ b: UInt64, _ mask: Int) -> Int {
        var h = a &* 0x9E37_79B9_7F4A_7C15 ^ b &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        return Int(truncatingIfNeeded: h) & mask
    }

    @inline(__always) func get(_ a: UInt64, _ b: UInt64) -> Double? {
        var i = Self.slot(a, b, mask)
        while used[i] {
            if keysA[i] == a && keysB[i] == b { return values[i] }
            i = (i &+ 1) & mask
        }
        return nil
    }

    mutating func set(_ a: UInt64, _ b: UInt64, _ v: Double) {
        if (count + 1) * 2 > used.count { grow() }
        var i = Self.slot(a, b, mask)
        while used[i] {
            if keysA[i] == a && keysB[i] == b { values[i] = v; return }
            i = (i &+ 1) & mask
        }
        used[i] = true
        keysA[i] = a
        keysB[i] = b
        values[i] = v
        count += 1
    }

    private mutating func grow() {
        let old = (keysA, keysB, values, used)
        self = StateMemo(capacity: used.count * 2)
        for i in 0..<old.3.count where old.3[i] { set(old.0[i], old.1[i], old.2[i]) }
    }
}
