/// Tarmac's admission engine: one pure, synchronous cycle over an immutable snapshot.
///
/// A workload is admitted only when both hold at once: its team's quota (nominal, or borrowed from its cohort within
/// limits) covers it, and a concrete placement exists for every pod of its gang right now. Order: priority, then the
/// team with the lowest weighted dominant share, then users of a team in turn, then submission time.
public struct Scheduler: Sendable {
    public var config: SchedulerConfig

    public init(config: SchedulerConfig = SchedulerConfig()) { self.config = config }

    /// One cycle over a snapshot: every pending workload is examined.
    public func cycle(_ s: Snapshot, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> Decision {
        var state = SchedulerState(snapshot: s)
        return cycle(&state, policy: &policy, rng: &rng)
    }

    /// One cycle over kept state. Examined are the active workloads (new, or woken because something that could let them
    /// in changed, or all of them once `recheckAfter` has passed); the admitted join the running set, the rest are parked
    /// with their reason. Steps:
    /// 1. wake everything parked if the periodic recheck is due;
    /// 2. order the active workloads per team (priority, users in turn, submission);
    /// 3. repeatedly take the head of the team that goes next (priority, then lowest weighted dominant share);
    /// 4. skip it if it competes with the reservation; else try quota and a placement for the whole gang;
    /// 5. on failure try preemption (unless its priority is non-preempting), else park it, and reserve capacity for it if it has waited long enough;
    /// 6. park the identical workloads right behind it in its team's queue for the same reason, untried.
    public func cycle(_ state: inout SchedulerState, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> Decision {
        let now = state.cache.now
        state.cache.unplaceable.removeAll()
        state.cache.explanations.removeAll()
        state.cache.unpreemptable.removeAll()
        state.cache.admittedNow.removeAll()
        if let last = state.queue.lastRecheck {
            if now - last >= config.recheckAfter || last > now {
                state.queue.wakeAll()
                state.queue.lastRecheck = now
            }
        } else {
            state.queue.lastRecheck = now
        }
        var decision = Decision()
        let active = state.queue.takeActive()
        // Most of what is examined waits: room for all of them up front, rather than growing the table as they come.
        decision.waiting.reserveCapacity(active.count)
        let queues = Self.teamQueues(active, runningPerUser: state.cache.runningPerUser)
        var heads: [String: Int] = [:]  // next index into each team's queue
        var reservation = state.queue.reservedFor.flatMap { state.queue.pending[$0] }

        var started = config.stopwatch?() ?? .zero
        // Each team's place in line: (head priority, dominant share, head submission). Only the team just served, and
        // after a preemption the victims' teams, change, so keys are kept and updated rather than recomputed.
        var keys: [String: TeamKey] = [:]
        func refresh(_ team: String) {
            guard let q = queues[team], heads[team, default: 0] < q.count else { keys[team] = nil; return }
            let head = q[heads[team, default: 0]]
            keys[team] = TeamKey(priority: head.priority, share: state.cache.book.dominantShare(team), submitted: head.submitted)
        }
        for team in queues.keys { refresh(team) }
        while let team = Self.nextTeam(keys) {
            defer { refresh(team) }
            if let stopwatch = config.stopwatch {
                let t = stopwatch()
                if !decision.admitted.isEmpty || !decision.waiting.isEmpty {
                    let d = (t - started).components
                    decision.decisionNanoseconds.append(d.seconds * 1_000_000_000 + d.attoseconds / 1_000_000_000)
                }
                started = t
            }
            let w = queues[team]![heads[team, default: 0]]
            heads[team, default: 0] += 1

            if let r = reservation, r.id != w.id, Self.competes(w, with: r) {
                Self.holdBehind(r, w, &state, &decision)
                continue
            }
            switch attempt(w, &state.cache, policy: &policy, rng: &rng, useCache: true) {
            case .success(let admission):
                state.cache.commit(w, admission, policy: &policy)
                state.queue.remove(w.id)
                if reservation?.id == w.id { reservation = nil }
                decision.admitted.append(admission)
            case .failure(let reason):
                if config.preemption, w.preempts, let (victims, admission) = preempt(for: w, &state.cache, policy: &policy, rng: &rng) {
                    defer { for t in Set(victims.map(\.workload.team)) where keys[t] != nil { refresh(t) } }
                    for v in victims {
                        let pools = state.cache.pools(of: v)
                        state.cache.evict(v, policy: &policy)
                        state.freed(v, pools: pools)
                        let why = v.workload.priority < w.priority ? "priority" : "reclaim"
                        decision.preempted.append(.init(id: v.workload.id, by: w.id, reason: why, lostGPUMilliSeconds: v.lostWork(at: now)))
                    }
                    state.cache.commit(w, admission, policy: &policy)
                    state.queue.remove(w.id)
                    if reservation?.id == w.id { reservation = nil }
                    decision.admitted.append(admission)
                    continue
                }
                let why: WaitReason
                if config.explain, case .shape = reason {
                    let key = ShapeKey(w)
                    if let known = state.cache.explanations[key] {
                        why = known
                    } else {
                        why = reason.explained(w, state.cache.cluster)
                        state.cache.explanations[key] = why
                    }
                } else {
                    why = config.explain ? reason.explained(w, state.cache.cluster) : reason.brief
                }
                decision.waiting[w.id] = why
                let parking: AdmissionQueue.Parking = switch reason {
                case .quota: .quota(SchedulerState.quotaGroup(w.team, state.cache.book))
                case .shape: .shape(.init(w.pools))
                }
                state.queue.park(w, parking, reason: why)
                // A reservation only for a gang that could start once capacity frees up: it fits on the empty cluster and
                // within its team's limits. Anything else would block competing work forever.
                if reservation == nil, case .shape = reason, now - w.submitted >= config.reservationAfter {
                    let empty = state.cache.empty()
                    if Self.feasible(w, empty: empty, book: state.cache.book, policy: &policy, rng: &rng) {
                        reservation = w
                        state.queue.reservedFor = w.id
                    }
                }
                // 6. The workloads right behind it in its team's queue with the same gang and priority fail the same way
                // (nothing was released since: admissions only take room, and a preemption would have admitted it), so
                // they wait for the same reason without being tried; one that may claim the reservation is tried.
                let q = queues[team]!
                while heads[team, default: 0] < q.count {
                    let next = q[heads[team, default: 0]]
                    guard next.priority == w.priority, next.pods == w.pods, next.sameDomain == w.sameDomain, next.pools == w.pools else { break }
                    if reservation == nil, case .shape = reason, now - next.submitted >= config.reservationAfter { break }
                    heads[team, default: 0] += 1
                    if let r = reservation, r.id != next.id, Self.competes(next, with: r) {
                        Self.holdBehind(r, next, &state, &decision)
                    } else {
                        decision.waiting[next.id] = why
                        state.queue.park(next, parking, reason: why)
                    }
                }
            }
        }
        decision.reservedFor = reservation?.id
        return decision
    }

    // MARK: Order

    /// Per team, pending work in order: priority, then users in turn (a user's k-th workload after every other
    /// user's k-th, counting what each already runs), then submission time.
    static func teamQueues(_ pending: [PendingWorkload], runningPerUser: [String: Int]) -> [String: [PendingWorkload]] {
        // Sorted as positions into `pending`: each workload is copied once, into its team's queue.
        var byTeam: [String: [Int]] = [:]
        for i in pending.indices { byTeam[pending[i].team, default: []].append(i) }
        func earlier(_ a: Int, _ b: Int) -> Bool {
            pending[a].submitted != pending[b].submitted ? pending[a].submitted < pending[b].submitted : pending[a].id < pending[b].id
        }
        return byTeam.mapValues { members in
            let bySubmission = members.sorted(by: earlier)
            // Per user of this team: how many of theirs come before (what they run, then what was counted here).
            var rank: [String: Int] = [:]
            var turns: [Int] = []  // turns[k]: the turn of bySubmission[k]
            turns.reserveCapacity(members.count)
            for i in bySubmission {
                let user = pending[i].user
                let r = rank[user] ?? runningPerUser[pending[i].team + "/" + user] ?? 0
                rank[user] = r + 1
                turns.append(r)
            }
            // Positions in bySubmission: the last tie-break, submission order, is their own order.
            let order = bySubmission.indices.sorted { a, b in
                let pa = pending[bySubmission[a]].priority, pb = pending[bySubmission[b]].priority
                if pa != pb { return pa > pb }
                if turns[a] != turns[b] { return turns[a] < turns[b] }
                return a < b
            }
            return order.map { pending[bySubmission[$0]] }
        }
    }

    struct TeamKey {
        var priority: Int
        var share: Double
        var submitted: Int64
    }

    /// The team whose head goes next: highest priority, then lowest weighted dominant share (as admitted so far), then oldest.
    static func nextTeam(_ keys: [String: TeamKey]) -> String? {
        var best: (String, TeamKey)?
        for (team, k) in keys {
            if let (bt, b) = best {
                let worse = k.priority != b.priority ? k.priority < b.priority
                    : (k.share != b.share ? k.share > b.share : (k.submitted != b.submitted ? k.submitted > b.submitted : team > bt))
                if worse { continue }
            }
            best = (team, k)
        }
        return best?.0
    }

    /// `w` waits behind the reservation of `r`.
    static func holdBehind(_ r: PendingWorkload, _ w: PendingWorkload, _ state: inout SchedulerState, _ decision: inout Decision) {
        let why = WaitReason.reservation(for: r.id)
        decision.waiting[w.id] = why
        state.queue.park(w, .reservation, reason: why)
    }

    /// Whether `w` would take capacity that the reserved workload `r` waits for.
    static func competes(_ w: PendingWorkload, with r: PendingWorkload) -> Bool {
        let rGPU = r.pods.contains(where: \.usesGPU), wGPU = w.pods.contains(where: \.usesGPU)
        if rGPU != wGPU { return false }
        guard rGPU else { return true }
        let rm = r.pods.first(where: \.usesGPU)!.models, wm = w.pods.first(where: \.usesGPU)!.models
        return rm.isAny || wm.isAny || rm.bits & wm.bits != 0
    }

    // MARK: Admission

    enum Failure: Error {
        case quota(QuotaShortfall)
        case shape(PendingWorkload)

        var brief: WaitReason {
            switch self {
            case .quota(let q): .quota(q)
            case .shape: .shape("no placement for the whole gang")
            }
        }

        func explained(_ w: PendingWorkload, _ c: ClusterState) -> WaitReason {
            switch self {
            case .quota(let q): .quota(q)
            case .shape: .shape(ShapeReport.describe(w, in: c))
            }
        }
    }

    func attempt(_ w: PendingWorkload, _ state: inout SchedulerCache, policy: inout any PlacementPolicy, rng: inout SplitMix64, useCache: Bool) -> Result<Decision.Admission, Failure> {
        // Quota first when the GPU model is known in advance (one allowed model): the most actionable reason.
        if let assumed = Self.assumedRequest(w), let short = state.book.shortfall(team: w.team, request: assumed) {
            return .failure(.quota(short))
        }
        let key = ShapeKey(w)
        if useCache, state.unplaceable.contains(key) { return .failure(.shape(w)) }
        guard let placements = Self.placeGang(w, in: &state.cluster, policy: &policy, rng: &rng) else {
            if useCache { state.unplaceable.insert(key) }
            return .failure(.shape(w))
        }
        let charged = Self.charge(w, placements, state.cluster)
        guard let short = state.book.shortfall(team: w.team, request: charged) else {
            return .success(.init(id: w.id, placements: placements, charged: charged))
        }
        // The best placement is on a GPU model the team has no quota left for: a gang that may use several models is
        // tried on each of the others in turn (quota first, then a placement on that model alone).
        let gpuPods = w.pods.filter(\.usesGPU)
        guard let first = gpuPods.first, Self.assumedRequest(w) == nil else { return .failure(.quota(short)) }
        let tried = state.cluster.model[placements[w.pods.firstIndex(where: \.usesGPU)!].node]
        for m in 1..<state.cluster.modelNames.count where UInt8(m) != tried {
            let model = UInt8(m)
            guard gpuPods.allSatisfy({ $0.models.allows(model) }), first.models.allows(model) else { continue }
            var only = w
            only.pods = w.pods.map { p in
                guard p.usesGPU else { return p }
                var q = p
                q.models = .only([model])
                return q
            }
            if let assumed = Self.assumedRequest(only), state.book.shortfall(team: w.team, request: assumed) != nil { continue }
            guard let p = Self.placeGang(only, in: &state.cluster, policy: &policy, rng: &rng) else { continue }
            let c = Self.charge(only, p, state.cluster)
            if state.book.shortfall(team: w.team, request: c) == nil { return .success(.init(id: w.id, placements: p, charged: c)) }
        }
        return .failure(.quota(short))
    }

    static func assumedRequest(_ w: PendingWorkload) -> Resources? {
        var model: Int?
        for p in w.pods where p.usesGPU {
            guard p.models.bits.nonzeroBitCount == 1 else { return nil }
            let m = p.models.bits.trailingZeroBitCount
            if model != nil && model != m { return nil }
            model = m
        }
        return Resources.of(w.pods) { _ in model ?? 0 }
    }

    static func charge(_ w: PendingWorkload, _ placements: [Placement], _ c: ClusterState) -> Resources {
        var r = Resources()
        for (p, at) in zip(w.pods, placements) {
            r.cpuMilli += Int64(p.cpuMilli)
            r.memoryMiB += Int64(p.memoryMiB)
            if p.usesGPU { r.addGPU(Int(c.model[at.node]), Int64(p.totalGPUMilli)) }
        }
        return r
    }

    /// Places every pod of the gang, or none. Pods are placed one after another, so each sees the ones before it, and
    /// taken back before returning (the cluster is left as it was). A gang that must share a topology domain tries the
    /// domains with the most free GPU first.
    static func placeGang(_ w: PendingWorkload, in c: inout ClusterState, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> [Placement]? {
        if w.pods.count > 1 && c.clusterCount > 1 { return placeInOneCluster(w, in: &c, policy: &policy, rng: &rng) }
        return placeGang(w, in: &c, cluster: nil, policy: &policy, rng: &rng)
    }

    /// A gang of several pods on nodes of several clusters: all in one of them. The cluster the policy picks for its
    /// first pod is tried first, then the others by most free GPU in the gang's pools; the first that holds it all wins.
    static func placeInOneCluster(_ w: PendingWorkload, in c: inout ClusterState, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> [Placement]? {
        guard let first = policy.place(w.pods[0], in: c, among: NodeFilter(pools: w.pools), rng: &rng), c.fits(w.pods[0], on: first.node) else { return nil }
        let home = c.cluster[first.node]
        let free = c.gpuFreeByCluster(pools: w.pools)
        let need = w.gpuMilli
        var others: [(cluster: Int16, free: Int)] = []
        for k in 0..<c.clusterCount where Int16(k) != home && free[k] >= need { others.append((Int16(k), free[k])) }
        others.sort { a, b in a.free != b.free ? a.free > b.free : a.cluster < b.cluster }
        for k in [home] + others.map(\.cluster) {
            if let p = placeGang(w, in: &c, cluster: k, policy: &policy, rng: &rng) { return p }
        }
        return nil
    }

    static func placeGang(_ w: PendingWorkload, in c: inout ClusterState, cluster: Int16?, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> [Placement]? {
        if !w.sameDomain { return placeAll(w.pods, in: &c, NodeFilter(pools: w.pools, cluster: cluster), policy: &policy, rng: &rng) }
        var freeByDomain: [(domain: Int32, free: Int)] = []
        if let pools = w.pools {
            for (d, nodes) in c.nodesByDomain {
                var free = 0, any = false
                for n in nodes where pools.contains(c.pool[n]) && (cluster.map { c.cluster[n] == $0 } ?? true) {
                    free += c.totalGPUFree(n)
                    any = true
                }
                if any { freeByDomain.append((d, free)) }
            }
        } else {
            // A domain with less free GPU than the gang needs in all cannot hold it.
            let need = w.gpuMilli
            for (k, d) in c.domains.enumerated() where c.domainGPUFree[k] >= need {
                if let cluster, let n = c.nodesByDomain[d]?.first, c.cluster[n] != cluster { continue }
                freeByDomain.append((d, c.domainGPUFree[k]))
            }
        }
        for (d, _) in freeByDomain.sorted(by: { $0.free != $1.free ? $0.free > $1.free : $0.domain < $1.domain }) {
            if let p = placeAll(w.pods, in: &c, NodeFilter(pools: w.pools, nodes: c.nodesByDomain[d], cluster: cluster), policy: &policy, rng: &rng) { return p }
        }
        return nil
    }

    static func placeAll(_ pods: [PodShape], in c: inout ClusterState, _ filter: NodeFilter, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> [Placement]? {
        if pods.count == 1 {
            guard let p = policy.place(pods[0], in: c, among: filter, rng: &rng), c.fits(pods[0], on: p.node) else { return nil }
            return [p]
        }
        var out: [Placement] = []
        out.reserveCapacity(pods.count)
        defer { for (pod, p) in zip(pods, out).reversed() { c.release(pod, from: p) } }
        for pod in pods {
            guard let p = policy.place(pod, in: c, among: filter, rng: &rng), c.fits(pod, on: p.node) else { return nil }
            c.assign(pod, to: p)
            out.append(p)
        }
        return out
    }

    /// Whether a gang could ever start: it fits on the empty cluster, and within its team's nominal plus borrowing limit.
    static func feasible(_ w: PendingWorkload, empty c: ClusterState, book: QuotaBook, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> Bool {
        var empty = c
        guard let placements = placeGang(w, in: &empty, policy: &policy, rng: &rng) else { return false }
        guard let q = book.teams[w.team] else { return false }
        let need = charge(w, placements, empty)
        let limit = q.cohort == nil ? q.nominal : q.nominal + (q.borrowingLimit ?? Resources(cpuMilli: .max / 4, memoryMiB: .max / 4, gpu: SIMD16(repeating: .max / 4)))
        return need.fits(in: limit)
    }

    // MARK: Preemption

    /// Victims that free room for `w`: only lower priority, or (to reclaim nominal quota) work that other teams of the
    /// cohort run on borrowed capacity; never before their guaranteed runtime; whole gangs; least lost work first.
    func preempt(for w: PendingWorkload, _ state: inout SchedulerCache, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> ([RunningWorkload], Decision.Admission)? {
        let key = PreemptionKey(shape: ShapeKey(w), team: w.team, priority: w.priority)
        if state.unpreemptable.contains(key) { return nil }
        guard let found = findVictims(for: w, &state, policy: &policy, rng: &rng) else {
            state.unpreemptable.insert(key)
            return nil
        }
        return found
    }

    func findVictims(for w: PendingWorkload, _ state: inout SchedulerCache, policy: inout any PlacementPolicy, rng: inout SplitMix64) -> ([RunningWorkload], Decision.Admission)? {
        let now = state.now
        let team = state.book.teams[w.team]
        let request = Self.assumedRequest(w) ?? Resources.of(w.pods) { _ in 0 }
        let withinNominal = team.map { (state.book.used(w.team) + request).fits(in: $0.nominal) } ?? false
        let wantsGPU = w.pods.contains(where: \.usesGPU)
        let models = w.pods.first(where: \.usesGPU)?.models ?? .any
        let candidates = state.running.values.filter { v in
            // Never what this cycle admitted: a decision must not both start and stop a workload.
            guard v.workload.preemptible, !state.admittedNow.contains(v.workload.id), now - v.started >= v.workload.minRuntime, v.workload.id != w.id else { return false }
            // Only victims whose release can help: GPU work on a model the preemptor may use (any work for a CPU preemptor).
            if wantsGPU && !v.placements.contains(where: { p in !p.gpus.indices.isEmpty && models.allows(state.cluster.model[p.node]) }) { return false }
            if v.workload.priority < w.priority { return true }
            guard withinNominal, v.workload.team != w.team, let c = team?.cohort, state.book.teams[v.workload.team]?.cohort == c else { return false }
            return !state.book.borrowed(v.workload.team).isZero && v.workload.priority <= w.priority
        }.sorted { a, b in
            let la = a.lostWork(at: now), lb = b.lostWork(at: now)
            if la != lb { return la < lb }
            if a.workload.priority != b.workload.priority { return a.workload.priority < b.workload.priority }
            return (b.started, a.workload.id) < (a.started, b.workload.id)
        }
        guard !candidates.isEmpty else { return nil }
        var trial = state
        var chosen: [RunningWorkload] = []
        for v in candidates.prefix(64) {
            trial.release(v)
            chosen.append(v)
            if case .success = attempt(w, &trial, policy: &policy, rng: &rng, useCache: false) {
                // Keep only the victims that are needed.
                var needed = chosen
                for v in chosen.reversed() {
                    var without = state
                    for u in needed where u.workload.id != v.workload.id { without.release(u) }
                    if case .success = attempt(w, &without, policy: &policy, rng: &rng, useCache: false) {
                        needed.removeAll { $0.workload.id == v.workload.id }
                    }
                }
                var final = state
                for u in needed { final.release(u) }
                guard case .success(let admission) = attempt(w, &final, policy: &policy, rng: &rng, useCache: false) else { return nil }
                return (needed, admission)
            }
        }
        return nil
    }
}

/// Identity of a gang's shape, to skip placing shapes already known not to fit in this cycle.
struct ShapeKey: Hashable {
    var pods: [PodShape]
    var sameDomain: Bool
    var pools: Set<Int16>?
    init(_ w: PendingWorkload) {
        pods = w.pods
        sameDomain = w.sameDomain
        pools = w.pools
    }
}

