/// The workloads waiting for admission (Kueue's queue manager), split in two: the *active* ones, which the next cycle
/// examines, and the *parked* ones, which did not fit and wait for something that could let them in: capacity freed in
/// their pools (shape), quota freed in their cohort (quota), the reservation they are behind ending, or the periodic
/// recheck. A cycle in which nothing changed examines nothing.
struct AdmissionQueue: Sendable {
    /// Every waiting workload.
    private(set) var pending: [String: PendingWorkload] = [:]
    /// Those the next cycle examines.
    private(set) var active: Set<String> = []
    /// Why each parked workload waits (as last found).
    private(set) var reasons: [String: WaitReason] = [:]
    /// Parked by the pools they may use (nil: any pool), by quota group (cohort, or the team when it has none), and
    /// behind the reservation.
    private var byPools: [PoolsKey: Set<String>] = [:]
    private var byQuotaGroup: [String: Set<String>] = [:]
    private var behindReservation: Set<String> = []
    private var parkedAs: [String: Parking] = [:]
    /// The workload capacity is kept for, if any.
    var reservedFor: String?
    /// When the parked workloads were last all examined (nil: not yet; everything starts active).
    var lastRecheck: Int64?

    struct PoolsKey: Hashable {
        var pools: [Int16]?
        init(_ p: Set<Int16>?) { pools = p?.sorted() }
        func touches(_ freed: Set<Int16>) -> Bool { pools.map { $0.contains(where: freed.contains) } ?? true }
    }

    enum Parking: Hashable {
        case shape(PoolsKey)
        case quota(String)
        case reservation
    }

    var parkedCount: Int { parkedAs.count }

    mutating func add(_ w: PendingWorkload) {
        remove(w.id)
        pending[w.id] = w
        active.insert(w.id)
    }

    /// Takes a workload out (admitted, withdrawn).
    mutating func remove(_ id: String) {
        guard pending.removeValue(forKey: id) != nil else { return }
        active.remove(id)
        unpark(id)
        reasons[id] = nil
        if reservedFor == id { endReservation() }
    }

    /// The active workloads, now examined; they leave the active set.
    mutating func takeActive() -> [PendingWorkload] {
        let out = active.compactMap { pending[$0] }
        active.removeAll(keepingCapacity: true)
        return out
    }

    mutating func park(_ w: PendingWorkload, _ how: Parking, reason: WaitReason) {
        reasons[w.id] = reason
        if let before = parkedAs.updateValue(how, forKey: w.id) { forget(w.id, parkedAs: before) }
        switch how {
        case .shape(let k): byPools[k, default: []].insert(w.id)
        case .quota(let g): byQuotaGroup[g, default: []].insert(w.id)
        case .reservation: behindReservation.insert(w.id)
        }
    }

    private mutating func unpark(_ id: String) {
        guard let how = parkedAs.removeValue(forKey: id) else { return }
        forget(id, parkedAs: how)
    }

    /// Takes a workload out of the index of where it was parked.
    private mutating func forget(_ id: String, parkedAs how: Parking) {
        switch how {
        case .shape(let k): byPools[k]?.remove(id)
        case .quota(let g): byQuotaGroup[g]?.remove(id)
        case .reservation: behindReservation.remove(id)
        }
    }

    private mutating func wake(_ ids: Set<String>) {
        for id in ids {
            parkedAs[id] = nil
            active.insert(id)
        }
    }

    /// Capacity was freed in these pools: the workloads parked for want of room there are examined again.
    mutating func capacityFreed(in pools: Set<Int16>) {
        for (k, ids) in byPools where !ids.isEmpty && k.touches(pools) {
            wake(ids)
            byPools[k] = nil
        }
    }

    /// Quota was freed in a group (a cohort, or a team without one).
    mutating func quotaFreed(in group: String) {
        if let ids = byQuotaGroup.removeValue(forKey: group) { wake(ids) }
    }

    mutating func endReservation() {
        reservedFor = nil
        wake(behindReservation)
        behindReservation.removeAll()
    }

    /// Every parked workload is examined again.
    mutating func wakeAll() {
        for (_, ids) in byPools { wake(ids) }
        for (_, ids) in byQuotaGroup { wake(ids) }
        wake(behindReservation)
        byPools.removeAll()
        byQuotaGroup.removeAll()
        behindReservation.removeAll()
    }
}
