import Testing
@testable import TarmacEngine

@Suite struct QuotaTests {
    @Test func nominalThenBorrowingWithinCohort() {
        var book = QuotaBook(teams: [Build.gpuQuota("a", 8, cohort: "c", borrow: 4), Build.gpuQuota("b", 8, cohort: "c")])
        var eight = Resources(); eight.addGPU(1, 8000)
        var four = Resources(); four.addGPU(1, 4000)
        #expect(book.shortfall(team: "a", request: eight) == nil)
        book.charge("a", eight)
        #expect(book.shortfall(team: "a", request: four) == nil, "b lends its idle quota")
        book.charge("a", four)
        let beyond = book.shortfall(team: "a", request: four)
        #expect(beyond?.resource == "gpu[1]" && beyond?.detail == "beyond the borrowing limit")
        #expect(beyond?.needed == 8000 && beyond?.available == 4000)
        // b uses its quota: nothing left to lend.
        var b8 = Resources(); b8.addGPU(1, 8000)
        book.charge("b", b8)
        #expect(book.borrowed("a").gpu(1) == 4000)
    }

    @Test func noCohortMeansNoBorrowing() {
        let book = QuotaBook(teams: [Build.gpuQuota("a", 8)])
        var nine = Resources(); nine.addGPU(1, 9000)
        #expect(book.shortfall(team: "a", request: nine)?.detail == "beyond nominal quota, and the team is in no cohort")
    }
}

@Suite struct SchedulerTests {
    @Test func gangIsAllOrNothingAndExplainsTheShape() throws {
        var c = Build.cluster(nodes: 4)
        // Two nodes half used: free blocks 8, 8, 4, 4.
        c.assign(Build.gpuPod(4), to: Placement(node: 2, gpus: GPUSet([0, 1, 2, 3])))
        c.assign(Build.gpuPod(4), to: Placement(node: 3, gpus: GPUSet([0, 1, 2, 3])))
        let gang = Build.gang("big", team: "a", workers: 3, gpus: 8)
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: [gang], quotas: [Build.gpuQuota("a", 64)]))
        #expect(d.admitted.isEmpty)
        let reason = try #require(d.waiting["big"])
        #expect(reason.kind == "shape")
        #expect(reason.description == "shape: needs 3 pods with 8 free GPUs of model h100 each, plus 4 CPU and 16Gi memory; largest free blocks: 2×8, 2×4")
        let two = Build.cycle(Snapshot(now: 0, cluster: c, pending: [Build.gang("ok", team: "a", workers: 2, gpus: 8)], quotas: [Build.gpuQuota("a", 64)]))
        #expect(two.admitted.first?.placements.map(\.node).sorted() == [0, 1])
    }

    @Test func quotaReasonHasNumbers() throws {
        let d = Build.cycle(Snapshot(now: 0, cluster: Build.cluster(nodes: 4), pending: [Build.gang("j", team: "a", workers: 2, gpus: 8)], quotas: [Build.gpuQuota("a", 8)]))
        #expect(d.waiting["j"] == .quota(QuotaShortfall(resource: "gpu[1]", needed: 16000, available: 8000, detail: "beyond nominal quota, and the team is in no cohort")))
    }

    @Test func topologyDomainKeepsTheGangTogether() throws {
        var c = Build.cluster(nodes: 4, domains: 2)  // nodes 0, 2 in domain 0; 1, 3 in domain 1
        c.assign(Build.gpuPod(8), to: Placement(node: 0, gpus: GPUSet(Array(0..<8))))
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: [Build.gang("g", team: "a", workers: 2, gpus: 8, sameDomain: true)], quotas: [Build.gpuQuota("a", 64)]))
        let nodes = try #require(d.admitted.first?.placements.map(\.node)).sorted()
        #expect(nodes == [1, 3])
    }

    @Test func priorityThenFairShareThenUsersInTurn() {
        let c = Build.cluster(nodes: 1)  // room for 8 one-GPU pods
        var pending: [PendingWorkload] = []
        // Team a: user x floods with 6 jobs first, user y submits 2 later. Team b: 2 jobs. One high-priority job of b.
        for i in 0..<6 { pending.append(Build.gang("a-x\(i)", team: "a", user: "x", workers: 1, gpus: 1, at: Int64(i))) }
        for i in 0..<2 { pending.append(Build.gang("a-y\(i)", team: "a", user: "y", workers: 1, gpus: 1, at: Int64(10 + i))) }
        for i in 0..<2 { pending.append(Build.gang("b\(i)", team: "b", user: "z", workers: 1, gpus: 1, at: Int64(20 + i))) }
        pending.append(Build.gang("b-urgent", team: "b", user: "z", workers: 1, gpus: 1, priority: 10, at: 99))
        let d = Build.cycle(Snapshot(now: 100, cluster: c, pending: pending, quotas: [Build.gpuQuota("a", 8), Build.gpuQuota("b", 8)]))
        let order = d.admitted.map(\.id)
        #expect(order.first == "b-urgent")
        #expect(order.count == 8)
        // Fair share alternates teams; within a, users x and y take turns, so y's jobs are not stuck behind x's flood.
        #expect(Set(order).isSuperset(of: ["a-y0", "a-y1", "b0", "b1"]))
        #expect(d.waiting.keys.sorted() == ["a-x3", "a-x4", "a-x5"])
    }

    @Test func backfillThenReservationForAStarvingHead() {
        var c = Build.cluster(nodes: 2)
        c.assign(Build.gpuPod(4), to: Placement(node: 0, gpus: GPUSet([0, 1, 2, 3])))
        c.assign(Build.gpuPod(4), to: Placement(node: 1, gpus: GPUSet([0, 1, 2, 3])))
        let head = Build.gang("head", team: "a", workers: 1, gpus: 8, priority: 5, at: 0)
        let small = Build.gang("small", team: "a", workers: 1, gpus: 2, priority: 0, at: 1)
        let quotas = [Build.gpuQuota("a", 64)]
        // Young head: smaller work backfills.
        let young = Build.cycle(Snapshot(now: 1000, cluster: c, pending: [head, small], quotas: quotas))
        #expect(young.admitted.map(\.id) == ["small"])
        #expect(young.waiting["head"]?.kind == "shape")
        // After waiting past the threshold, the head holds a reservation: competing work waits behind it.
        let old = Build.cycle(Snapshot(now: 11 * 60 * 1000, cluster: c, pending: [head, small], quotas: quotas))
        #expect(old.admitted.isEmpty)
        #expect(old.waiting["small"] == .reservation(for: "head"))
    }

    @Test func preemptsLowerPriorityLosingLeastWork() throws {
        var s = Snapshot(now: 0, cluster: Build.cluster(nodes: 2), pending: [], quotas: [Build.gpuQuota("a", 64)])
        s.pending = [Build.gang("old", team: "a", workers: 1, gpus: 8, priority: 0), Build.gang("fresh", team: "a", workers: 1, gpus: 8, priority: 0)]
        s = Build.apply(Build.cycle(s), to: s)
        #expect(s.running.count == 2)
        // "old" last checkpointed long ago; "fresh" just now.
        s.running[0].lastCheckpoint = 0
        s.running[1].lastCheckpoint = 90_000
        s.now = 100_000
        s.pending = [Build.gang("urgent", team: "a", workers: 1, gpus: 8, priority: 10)]
        let d = Build.cycle(s)
        #expect(d.admitted.map(\.id) == ["urgent"])
        #expect(d.preempted.map(\.id) == [s.running[1].workload.id])
        #expect(d.preempted.first?.reason == "priority")
        #expect(d.preempted.first?.lostGPUMilliSeconds == Int64(10_000 * 8000))
    }

    @Test func neverPreemptsEqualPriorityOrBeforeMinimumRuntime() {
        var s = Snapshot(now: 0, cluster: Build.cluster(nodes: 1), pending: [Build.gang("r", team: "a", workers: 1, gpus: 8, minRuntime: 60_000)],
                         quotas: [Build.gpuQuota("a", 64)])
        s = Build.apply(Build.cycle(s), to: s)
        s.now = 30_000
        s.pending = [Build.gang("same", team: "a", workers: 1, gpus: 8), Build.gang("urgent", team: "a", workers: 1, gpus: 8, priority: 9)]
        let d = Build.cycle(s)
        #expect(d.preempted.isEmpty, "guaranteed runtime not reached, and equal priority never preempts")
        s.now = 61_000
        #expect(Build.cycle(s).preempted.map(\.id) == ["r"])
    }

    @Test func aNonPreemptingPriorityWaitsInItsPlaceInsteadOfPreempting() {
        // "low" of team a runs on the only node, borrowing b's quota.
        let quotas = [Build.gpuQuota("a", 8, cohort: "c"), Build.gpuQuota("b", 8, cohort: "c")]
        let start = Snapshot(now: 0, cluster: Build.cluster(nodes: 1), pending: [Build.gang("low", team: "a", workers: 1, gpus: 8)], quotas: quotas)
        var s = Build.apply(Build.cycle(start), to: start)
        #expect(s.running.map(\.workload.id) == ["low"])
        s.now = 1000
        // Higher priority, and team b reclaiming its nominal quota: either would preempt "low", but not when non-preempting.
        var urgent = Build.gang("urgent", team: "b", workers: 1, gpus: 8, priority: 10, at: 1000)
        urgent.preempts = false
        let older = Build.gang("older", team: "a", workers: 1, gpus: 8, at: 500)
        s.pending = [urgent, older]
        let d = Build.cycle(s)
        #expect(d.preempted.isEmpty)
        #expect(d.admitted.isEmpty)
        #expect(d.waiting["urgent"] != nil)
        // When "low" ends, the non-preempting workload still goes first: its priority orders the queue.
        var freed = s
        freed.running = []
        freed.cluster = Build.cluster(nodes: 1)
        #expect(Build.cycle(freed).admitted.map(\.id) == ["urgent"])
        // The same workload allowed to preempt takes the node at once.
        urgent.preempts = true
        s.pending = [urgent, older]
        let e = Build.cycle(s)
        #expect(e.preempted.map(\.id) == ["low"])
        #expect(e.admitted.map(\.id) == ["urgent"])
    }

    @Test func teamReclaimsItsNominalQuotaFromABorrower() {
        // a and b share a cohort of 16 GPUs; a borrows all of b's 8 while b is idle.
        let quotas = [Build.gpuQuota("a", 8, cohort: "c"), Build.gpuQuota("b", 8, cohort: "c")]
        var s = Snapshot(now: 0, cluster: Build.cluster(nodes: 2), pending: [Build.gang("a1", team: "a", workers: 1, gpus: 8), Build.gang("a2", team: "a", workers: 1, gpus: 8)], quotas: quotas)
        s = Build.apply(Build.cycle(s), to: s)
        #expect(s.running.count == 2)
        s.now = 1000
        s.pending = [Build.gang("b1", team: "b", workers: 1, gpus: 8)]
        let d = Build.cycle(s)
        #expect(d.admitted.map(\.id) == ["b1"])
        #expect(d.preempted.count == 1 && d.preempted.first?.reason == "reclaim")
    }
}

@Suite struct PolicyTests {
    /// Hand-computed FGD fragmentation: one typical pod asking 0.5 GPU (share 1.0).
    @Test func fragmentationMatchesTheDefinition() {
        var c = ClusterState()
        c.addNode(name: "n", cpuMilli: 8000, memoryMiB: 1024, gpus: 2, model: "t4")
        let half = PodShape(cpuMilli: 1000, memoryMiB: 1, gpuCount: 1, gpuMilli: 500)
        var m = FragmentationModel(typical: [TypicalPod(shape: half, share: 1)])
        // Putting 0.7 on GPU 0 leaves 0.3 that a 0.5 pod cannot use: fragmentation grows by 300.
        let seven = PodShape(cpuMilli: 1000, memoryMiB: 1, gpuCount: 1, gpuMilli: 700)
        let d = m.delta(seven, node: 0, gpus: GPUSet([0]), in: c)
        #expect(d.before == 0 && d.after == 300)
        // A pod that takes all CPU strands every idle GPU.
        let hog = PodShape(cpuMilli: 8000, memoryMiB: 1, gpuCount: 0, gpuMilli: 0)
        #expect(m.delta(hog, node: 0, gpus: GPUSet(), in: c).after == 2000)
    }

    @Test func typicalPodsCoverTheWorkload() {
        let a = PodShape(cpuMilli: 1000, memoryMiB: 1, gpuCount: 1, gpuMilli: 500)
        let b = PodShape(cpuMilli: 2000, memoryMiB: 1, gpuCount: 1, gpuMilli: 1000)
        let t = TypicalPod.from(Array(repeating: a, count: 3) + [b])
        #expect(t.count == 2 && t[0].shape == a && abs(t[0].share - 0.75) < 1e-12)
    }

    @Test(arguments: PolicyName.allCases)
    func everyPolicyPlacesOnlyWhereItFits(_ name: PolicyName) {
        var c = Build.cluster(nodes: 3, gpus: 4)
        let shapes = [Build.gpuPod(1), Build.gpuPod(4), PodShape(cpuMilli: 2000, memoryMiB: 1024, gpuCount: 1, gpuMilli: 300, models: .only([1])),
                      PodShape(cpuMilli: 8000, memoryMiB: 1024, gpuCount: 0, gpuMilli: 0)]
        var policy = name.make(typical: shapes.map { TypicalPod(shape: $0, share: 0.25) })
        var rng = SplitMix64(seed: 7)
        var placed = 0
        for i in 0..<40 {
            let pod = shapes[i % shapes.count]
            guard let p = policy.place(pod, in: c, rng: &rng) else { continue }
            #expect(c.fits(pod, on: p.node))
            #expect(p.gpus.count == Int(pod.gpuCount))
            for g in p.gpus.indices { #expect(c.free(p.node, g) >= pod.gpuMilli) }
            c.assign(pod, to: p)
            policy.didPlace(pod, at: p, in: c)
            placed += 1
        }
        #expect(placed > 10)
        #expect(c.cpuFree.allSatisfy { $0 >= 0 } && c.gpuFree.allSatisfy { $0 >= 0 })
    }
}

/// Several clusters in one engine: a gang of several pods stays in one of them; single pods go wherever the policy says.
@Suite struct ClusterLevelTests {
    /// Two clusters of two 8-GPU nodes each (nodes 0, 1 in cluster 0; 2, 3 in cluster 1).
    static func twoClusters() -> ClusterState {
        var c = ClusterState()
        for i in 0..<4 { c.addNode(name: "n\(i)", cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus: 8, model: "h100", cluster: Int16(i / 2)) }
        return c
    }

    @Test func aGangLargerThanEitherClusterWaitsAndSaysWhy() throws {
        let c = Self.twoClusters()
        // 3 × 8 GPUs: 32 free in all, 16 in each cluster.
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: [Build.gang("big", team: "a", workers: 3, gpus: 8)], quotas: [Build.gpuQuota("a", 64)]))
        #expect(d.admitted.isEmpty)
        let reason = try #require(d.waiting["big"])
        #expect(reason.description == "shape: needs 3 pods with 8 free GPUs of model h100 each of one cluster, plus 4 CPU and 16Gi memory; largest free blocks: 4×8")
        // The same nodes as one cluster take it.
        let one = Build.cycle(Snapshot(now: 0, cluster: Build.cluster(nodes: 4), pending: [Build.gang("big", team: "a", workers: 3, gpus: 8)], quotas: [Build.gpuQuota("a", 64)]))
        #expect(one.admitted.map(\.id) == ["big"])
    }

    @Test func aGangGoesWhereItFitsWhole() throws {
        var c = Self.twoClusters()
        // Cluster 0 has one node left free, cluster 1 both: a 2-node gang can only go to cluster 1.
        c.assign(Build.gpuPod(8), to: Placement(node: 0, gpus: GPUSet(Array(0..<8))))
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: [Build.gang("g", team: "a", workers: 2, gpus: 8)], quotas: [Build.gpuQuota("a", 64)]))
        let nodes = try #require(d.admitted.first?.placements.map(\.node)).sorted()
        #expect(nodes == [2, 3])
    }

    @Test func singlePodsUseEveryCluster() {
        let c = Self.twoClusters()
        let pods = (0..<4).map { Build.gang("p\($0)", team: "a", workers: 1, gpus: 8, at: Int64($0)) }
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: pods, quotas: [Build.gpuQuota("a", 64)]))
        #expect(Set(d.admitted.flatMap { $0.placements.map(\.node) }) == [0, 1, 2, 3])
    }

    @Test func aGangInOneDomainStaysInItsCluster() throws {
        // Domain 0 spans a node of each cluster: a same-domain gang may not use both.
        var c = ClusterState()
        for i in 0..<4 { c.addNode(name: "n\(i)", cpuMilli: 64_000, memoryMiB: 512 * 1024, gpus: 8, model: "h100", domain: Int32(i % 2), cluster: Int16(i / 2)) }
        c.assign(Build.gpuPod(8), to: Placement(node: 1, gpus: GPUSet(Array(0..<8))))
        c.assign(Build.gpuPod(8), to: Placement(node: 3, gpus: GPUSet(Array(0..<8))))
        let d = Build.cycle(Snapshot(now: 0, cluster: c, pending: [Build.gang("g", team: "a", workers: 2, gpus: 8, sameDomain: true)], quotas: [Build.gpuQuota("a", 64)]))
        #expect(d.admitted.isEmpty)
    }
}
