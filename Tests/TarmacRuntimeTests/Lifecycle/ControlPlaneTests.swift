import TarmacCore
import Foundation
import Testing
import TarmacMetering
import TarmacPlanning
@testable import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// The control plane (effect runner, cycle, recovery) with a fake backend and a manual clock: no sockets, no sleeps.
@Suite struct ControlPlaneTests {
    @Test func aRequestIDIsReplayedAfterARestart() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let first = try await cp.submit(text: Lifecycle.batch("once"), requestID: "req-1", by: Lifecycle.alice, runsImages: false)
        #expect(first.created)
        // A restart: a new control plane over the same store.
        let cp2 = try await h.controlPlane()
        let again = try await cp2.submit(text: Lifecycle.batch("once"), requestID: "req-1", by: Lifecycle.alice, runsImages: false)
        #expect(!again.created && again.workload.id == first.workload.id)
        // The same key from an admin is another request (keys are scoped to the caller's team).
        let other = try await cp2.submit(text: Lifecycle.batch("twice"), requestID: "req-1", by: Lifecycle.admin, runsImages: false)
        #expect(other.created && other.workload.id != first.workload.id)
        #expect(try await h.store.loadWorkloads().count == 2)
    }

    @Test func aBackendThatReportsStartsLateKeepsTheWorkloadAdmittedUntilThen() async throws {
        let h = try Harness(reportsStarts: true)
        let cp = try await h.controlPlane()
        let id = try await cp.submit(text: Lifecycle.training("ft"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(id)?.state == .admitted)
        #expect(h.backend.launched.count == 1)
        for _ in 0..<5 {
            h.clock.advance(by: 30)
            await cp.tick()
        }
        #expect(await cp.current(id)?.state == .admitted, "pods placed but not yet running: still admitted")
        h.backend.start(id, attempt: 1)
        h.clock.advance(by: 1)
        await cp.tick()
        let e = try #require(await cp.current(id))
        #expect(e.state == .running && e.startedAt == h.clock.now)
    }

    @Test func theDeadlineFailsTheWorkloadInVirtualTime() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let id = try await cp.submit(text: Lifecycle.training("long", maxDuration: "1h"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(id)?.state == .running)
        h.clock.advance(by: 3599)
        await cp.tick()
        #expect(await cp.current(id)?.state == .running)
        h.clock.advance(by: 2)
        await cp.tick()
        let e = try #require(await cp.current(id))
        #expect(e.state == .failed && e.cause == "DeadlineExceeded")
        #expect(h.backend.stopped.contains(AttemptRef(workload: id, attempt: 1)) && h.backend.released == [id])
        #expect(abs(e.cpuSeconds - 3601) < 0.01, "one CPU for the whole run")
    }

    @Test func aFailedLaunchFailsTheWorkloadWithoutAnInventedPodExit() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        h.backend.failLaunches(true)
        let id = try await cp.submit(text: Lifecycle.training("ft"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let e = try #require(await cp.current(id))
        #expect(e.state == .failed && e.cause == "LaunchFailed" && e.exitCode == nil)
        #expect(e.message?.contains("no such file") == true)
    }

    @Test func cancelWhileRunningStopsThePodsAndEndsWhenTheyHaveEnded() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let id = try await cp.submit(text: Lifecycle.training("ft", workers: 2), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(id)?.state == .running)
        let c = try await cp.cancel(id, by: Lifecycle.alice)
        #expect(c.cancelRequested && c.state == .running)
        #expect(h.backend.stopped == [AttemptRef(workload: id, attempt: 1)])
        h.backend.exitAll(id, attempt: 1, pods: 2, code: 143, reason: .stopped)
        await cp.tick()
        #expect(await cp.current(id)?.state == .cancelled)
    }

    /// Three preemptible jobs fill the machine; a training job needs the room of one. The engine preempts the one that
    /// loses the least work: the one whose last checkpoint is the most recent (10 s), not the one that checkpointed
    /// 60 s ago, nor the one that never did (110 s of work).
    @Test(arguments: [0, 1])
    func preemptionChoosesTheVictimThatLosesLeastWork(checkpointed: Int) async throws {
        let h = try Harness(cpus: 2)
        let cp = try await h.controlPlane()
        var ids: [String] = []
        for name in ["a", "b", "c"] {
            ids.append(try await cp.submit(text: Lifecycle.batch(name, size: "cpu-small", priority: "preemptible"), requestID: nil,
                                           by: Lifecycle.alice, runsImages: false).workload.id)
        }
        await cp.tick()
        for id in ids { #expect(await cp.current(id)?.state == .running) }
        h.clock.advance(by: 50)
        _ = try await cp.checkpoint(ids[2], step: 1, location: nil, by: Lifecycle.alice, workloadToken: nil)
        h.clock.advance(by: 50)
        _ = try await cp.checkpoint(ids[checkpointed], step: 40, location: "/ckpt/40", by: Lifecycle.alice, workloadToken: nil)
        h.clock.advance(by: 10)
        let t = try await cp.submit(text: Lifecycle.training("urgent"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let victim = try #require(await cp.current(ids[checkpointed]))
        #expect(victim.state == .queued && victim.message?.contains("preempted by \(t)") == true)
        #expect(victim.attempt == 1 && victim.lastCheckpoint?.step == 40)
        #expect(await cp.current(ids[1 - checkpointed])?.state == .running)
        #expect(await cp.current(ids[2])?.state == .running)
        let audit = try await h.store.auditRecords(since: nil, limit: nil).filter { $0.action == "preempt" }
        #expect(audit.map(\.object) == ["workload/\(ids[checkpointed])"])
        // why shows the checkpoint of a running workload.
        let why = try await cp.why(ids[2], by: Lifecycle.alice)
        #expect(why.message.contains("last checkpoint 60s ago: step 1"), "\(why.message)")
    }

    /// A machine full of preemptible jobs, with the contract making `training` non-preempting: the training job keeps
    /// its place ahead of the batch queue but waits, and gets the first room that frees up.
    @Test func aNonPreemptingPriorityWaitsForRoomInsteadOfPreempting() async throws {
        let contractDir = try TemporaryDirectory(prefix: "tarmac-nonpreempting")
        let contract = try Lifecycle.contract(adding: "  preemption: {nonPreempting: [training]}", in: contractDir)
        let h = try Harness(cpus: 2, contract: contract)
        let cp = try await h.controlPlane()
        var ids: [String] = []
        for name in ["a", "b", "c", "d"] {  // 4 x 500m: the 2 CPUs are taken
            ids.append(try await cp.submit(text: Lifecycle.batch(name, size: "cpu-small", priority: "preemptible"), requestID: nil,
                                           by: Lifecycle.alice, runsImages: false).workload.id)
        }
        await cp.tick()
        for id in ids { #expect(await cp.current(id)?.state == .running) }
        h.clock.advance(by: 110)
        let t = try await cp.submit(text: Lifecycle.training("urgent"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let later = try await cp.submit(text: Lifecycle.batch("later", size: "cpu-small", priority: "preemptible"), requestID: nil,
                                        by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        for id in ids { #expect(await cp.current(id)?.state == .running) }
        #expect(await cp.current(t)?.state == .queued)
        #expect(try await h.store.auditRecords(since: nil, limit: nil).filter { $0.action == "preempt" }.isEmpty)
        // Two batch jobs end: the 1 CPU that frees up goes to the training job, not to the batch job queued after it.
        h.backend.exitAll(ids[0], attempt: 1, pods: 1, code: 0)
        h.backend.exitAll(ids[1], attempt: 1, pods: 1, code: 0)
        h.clock.advance(by: 1)
        await cp.tick()
        #expect(await cp.current(ids[0])?.state == .succeeded)
        let urgentNow = await cp.current(t), laterNow = await cp.current(later)
        #expect(urgentNow?.state == .running)
        #expect(laterNow?.state == .queued)
    }

    /// Nodes in two pools. When a CPU job of team search ends, the next cycle looks at what waits in the CPU pool or in
    /// search's cohort, not at the GPU job of another cohort waiting for the L4 pool: nothing it needs was given back.
    @Test func aCycleLooksOnlyAtWhatTheFreedRoomOrQuotaCouldLetIn() async throws {
        let h = try Harness(cpus: 2)
        h.backend.setNodes([NodeInventory(name: "cpu-0", cpuMilli: 2000, memoryMiB: 8192, gpus: 0, accelerator: nil, pool: "cpu"),
                            NodeInventory(name: "l4-0", cpuMilli: 16000, memoryMiB: 65536, gpus: 1, accelerator: "l4", pool: "serve-l4")])
        let cp = try await h.controlPlane()
        func gpuJob(_ name: String, team: String, owner: String) -> String {
            Lifecycle.batch(name, size: "gpu").replacingOccurrences(of: "team: search", with: "team: \(team)")
                .replacingOccurrences(of: "owner: alice@acme.example", with: "owner: \(owner)")
        }
        var ids: [String] = []
        for name in ["a", "b", "c", "d"] {  // 4 x 500m: the CPU pool's node is full
            ids.append(try await cp.submit(text: Lifecycle.batch(name, size: "cpu-small"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id)
        }
        // Team assistants (cohort product) takes the only L4 GPU.
        let gpuRun = try await cp.submit(text: gpuJob("gpu-run", team: "assistants", owner: "dan@acme.example"), requestID: nil, by: Lifecycle.admin,
                                         runsImages: false).workload.id
        await cp.tick()
        for id in ids + [gpuRun] { #expect(await cp.current(id)?.state == .running) }
        let more = try await cp.submit(text: Lifecycle.batch("more", size: "cpu-small"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let gpu = try await cp.submit(text: gpuJob("gpu-job", team: "assistants", owner: "dan@acme.example"), requestID: nil, by: Lifecycle.admin,
                                      runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(more)?.state == .queued)
        #expect(await cp.current(gpu)?.state == .queued)
        #expect(await cp.loop.lastExamined.count == 2, "the two new ones")
        h.backend.exitAll(ids[0], attempt: 1)
        await cp.tick()
        #expect(await cp.current(more)?.state == .running)
        #expect(await cp.current(gpu)?.state == .queued)
        let examined = await cp.loop.lastExamined
        #expect(examined.count == 1 && !examined.full, "only the CPU job waiting in the pool that has room again: \(examined)")
        // A job of team search ending frees quota in cohort research: a waiting GPU job of team ads (same cohort) is looked at.
        let adsGPU = try await cp.submit(text: gpuJob("ads-gpu", team: "ads", owner: "carol@acme.example"), requestID: nil, by: Lifecycle.admin,
                                         runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(adsGPU)?.state == .queued)
        h.backend.exitAll(ids[1], attempt: 1)
        await cp.tick()
        let next = await cp.loop.lastExamined
        #expect(next.count == 1 && !next.full, "ads' GPU job, by its cohort; not assistants': \(next)")
    }

    @Test func aPodReportsItsCheckpointWithTheCredentialItWasGiven() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let id = try await cp.submit(text: Lifecycle.training("ft"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let env = try #require(h.backend.launched.first?.environment)
        #expect(env["TARMAC_CHECKPOINT_URL"] == "http://127.0.0.1:1/v1/workloads/\(id)/checkpoint")
        let token = try #require(env["TARMAC_CHECKPOINT_TOKEN"])
        await #expect(throws: RuntimeError.self) {
            try await cp.checkpoint(id, step: 1, location: nil, by: nil, workloadToken: String(token.dropLast()) + (token.last == "0" ? "1" : "0"))
        }
        let e = try await cp.checkpoint(id, step: 7, location: "s3://ckpt/7", by: nil, workloadToken: token)
        #expect(e.lastCheckpoint == CheckpointMark(at: h.clock.now, attempt: 1, step: 7, location: "s3://ckpt/7"))
        let audit = try await h.store.auditRecords(since: nil, limit: nil).last
        #expect(audit?.action == "checkpoint" && audit?.actorKind == "workload")
        // The next attempt resumes from it, and the old attempt's credential no longer works.
        h.backend.exitAll(id, attempt: 1, code: 1)
        await cp.tick()
        h.clock.advance(by: 2)
        await cp.tick()
        let relaunch = try #require(h.backend.launched.last)
        #expect(relaunch.attempt == 2 && relaunch.environment["TARMAC_RESUME_STEP"] == "7" && relaunch.environment["TARMAC_RESUME_FROM"] == "s3://ckpt/7")
        await #expect(throws: RuntimeError.self) { try await cp.checkpoint(id, step: 8, location: nil, by: nil, workloadToken: token) }
    }

    /// A subscriber sees every transition of a workload's life once, in order, across a restart of the control plane:
    /// it remembers the last seq it handled and resumes after it.
    @Test func theTransitionStreamHasNoGapAndNoDuplicateAcrossARestart() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let live = cp.transitions.subscribe(after: 0)
        let id = try await cp.submit(text: Lifecycle.training("ft"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        // submit, admit, run
        let before = await first(3, of: live)
        #expect(before.map(\.event) == ["submit", "admit", "run"])
        let last = try #require(before.last?.seq)

        // While the subscriber is away, the control plane restarts and the workload moves on.
        let cp2 = try await h.controlPlane()
        h.clock.advance(by: 60)
        _ = try await cp2.checkpoint(id, step: 3, location: nil, by: Lifecycle.alice, workloadToken: nil)
        h.backend.exitAll(id, attempt: 1, code: 0)
        let resumed = cp2.transitions.subscribe(after: last)
        await cp2.tick()
        let after = await first(2, of: resumed)
        #expect(after.map(\.event) == ["checkpoint", "succeed"])
        let all = before + after
        #expect(all.map(\.seq) == Array(1...Int64(all.count)), "no gap, no duplicate")
        #expect(all.allSatisfy { $0.workload == id })
        for (a, b) in zip(all, all.dropFirst()) where b.from != nil { #expect(b.from == a.to) }

        // Metering, the first subscriber, sums the same usage the workload shows.
        var ledger = MeteringLedger()
        for t in all { ledger.record(t) }
        let e = try #require(await cp2.current(id))
        #expect(abs((ledger.cpuSeconds["search"] ?? 0) - e.cpuSeconds) < 0.001 && e.cpuSeconds > 59)
        #expect(ledger.admissions["search"] == 1 && ledger.completions["search"]?["succeeded"] == 1)
    }

    /// Nothing waits forever in silence: a workload no node here can ever host is refused at submit with what the nodes
    /// have; where the nodes can grow it is accepted with that as a warning, and why says it cannot start here.
    @Test(arguments: [false, true])
    func whatCanNeverStartHereIsRefusedOrWarnedAndWhySaysSo(canGrow: Bool) async throws {
        let h = try Harness(cpus: 2, canGrow: canGrow)
        let cp = try await h.controlPlane()
        // 16 CPUs per pod, on a 2-CPU machine.
        let big = Lifecycle.batch("big", size: "cpu-large")
        guard canGrow else {
            let error = await #expect(throws: RuntimeError.self) { try await cp.submit(text: big, requestID: nil, by: Lifecycle.alice, runsImages: false) }
            #expect(error?.message == "cannot start here: each pod needs 16 CPUs and 64Gi of memory on one node; the largest node of this machine has 2 CPUs and 8Gi")
            #expect(error?.diagnostics.first?.rule == "never-starts")
            #expect(try await h.store.loadWorkloads().isEmpty, "nothing was stored")
            return
        }
        let r = try await cp.submit(text: big, requestID: nil, by: Lifecycle.alice, runsImages: false)
        #expect(r.created && r.warnings.contains { $0.rule == "never-starts" && $0.message.contains("16 CPUs") })
        await cp.tick()
        let why = try await cp.why(r.workload.id, by: Lifecycle.alice)
        #expect(why.reason == "infeasible" && why.message.hasPrefix("cannot start here:"), "\(why.message)")
        #expect(!why.message.contains("gpu["))
    }

    /// Between full cycles only new work is looked at, but a reservation still holds: a gang that has waited long gets
    /// capacity kept for it, and small work submitted after it does not slip into that capacity; freed capacity is used
    /// in the very next tick.
    @Test func incrementalCyclesKeepReservationsAndUseFreedCapacityAtOnce() async throws {
        let h = try Harness(cpus: 2)
        let cp = try await h.controlPlane()
        let a = try await cp.submit(text: Lifecycle.training("a"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(a)?.state == .running)
        // A gang of two 1-CPU workers: one CPU is free, so it waits.
        let gang = try await cp.submit(text: Lifecycle.training("gang", workers: 2), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(gang)?.state == .queued)
        // Long enough to earn a reservation (a full cycle runs after the idle period).
        h.clock.advance(by: 11 * 60)
        await cp.tick()
        let w = try await cp.why(gang, by: Lifecycle.alice)
        #expect(w.reason == "shape", "\(w.reason ?? "-"): \(w.message)")
        // New small work, in an incremental cycle: it would fit the free CPU, but that CPU is kept for the gang.
        let small = try await cp.submit(text: Lifecycle.batch("small"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(small)?.state == .queued, "no backfill into reserved capacity")
        #expect(try await cp.why(small, by: Lifecycle.alice).reason == "reservation")
        // The running job ends: the next tick gives the gang both CPUs.
        h.backend.exitAll(a, attempt: 1, code: 0)
        await cp.tick()
        #expect(await cp.current(gang)?.state == .running)
    }

    @Test func aStoredPlanIsUsedAtRestartAndAnOldRowWithoutOneIsResolvedOnce() async throws {
        let h = try Harness()
        let cp = try await h.controlPlane()
        let id = try await cp.submit(text: Lifecycle.training("ft"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let stored = try await h.store.loadWorkloads()
        #expect(stored.first?.plan?.workload.metadata.name == "ft" && stored.first?.plan?.priority == 100)
        // A row as earlier versions wrote it: the entry alone, no plan.
        let old = Lifecycle.tracked(Lifecycle.batch("legacy"), id: "wl-legacy", at: h.clock.now).entry
        _ = try await h.store.insert(old, audit: AuditDraft(time: h.clock.now, actor: .lifecycle, action: "submit", object: "workload/wl-legacy"))
        #expect(try await h.store.loadWorkloads().first { $0.entry.id == "wl-legacy" }?.plan == nil)
        let cp2 = try await h.controlPlane()
        await cp2.tick()
        #expect(await cp2.current(id)?.state == .running)
        #expect(await cp2.current("wl-legacy")?.state == .running, "its document was resolved at start")
    }
}

/// `tarmac up`'s order: the API's port first, then recovery, and requests wait behind recovery instead of a closed port.
@Suite struct RecoveryOrderTests {
    @Test func recoveryWaitsForThePortAndOpensTheGateWhenDone() async throws {
        let h = try Harness()
        let cp = ControlPlane(contract: h.contract, store: h.store, backend: h.backend, clock: h.clock)
        let port = ReadinessGate(), recovered = ReadinessGate()
        let followed = ReadinessGate()
        let service = LifecycleService(cp, recovery: .init(portBound: port, recovered: recovered, then: {
            // What follows recovery sees it done, and runs before the API is let through.
            #expect(await cp.ready)
            #expect(!recovered.isOpen)
            followed.open()
        }))
        let task = Task { try await service.run() }
        for _ in 0..<100 { await Task.yield() }
        #expect(await cp.ready == false && !recovered.isOpen, "nothing is recovered before the port is bound")
        port.open()
        await recovered.wait()
        #expect(await cp.ready && followed.isOpen)
        task.cancel()
        _ = try? await task.value
    }

    @Test func aWaiterIsReleasedByCancellation() async {
        let gate = ReadinessGate()
        let waiter = Task { await gate.wait(); return gate.isOpen }
        waiter.cancel()
        #expect(await waiter.value == false)
        let open = ReadinessGate(open: true)
        await open.wait()
        #expect(open.isOpen)
    }
}
