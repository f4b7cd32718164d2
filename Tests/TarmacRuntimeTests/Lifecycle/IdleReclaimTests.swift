import Foundation
import TarmacAPI
import TarmacContract
import TarmacCore
import TarmacModel
import TarmacPlanning
import TarmacRuntime
import TarmacTesting
import Testing

/// Idle reclaim (#27) through the control plane, on a test clock: environment dev scales idle inference services to
/// zero (under 5% for 30m, then 10m of grace). Of two services on L4s, the idle one is noticed (its message, an audit
/// record with the utilization series), scaled to zero after the grace (its GPU given back, `why` says so, not admitted
/// again by itself), and a request (`wake`) brings it back; the busy one is untouched. A job under `stop` is cancelled.
@Suite struct IdleReclaimTests {
    static func contract(in dir: TemporaryDirectory) throws -> Contract {
        let file = try dir.write("idle.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              environments:
                dev:
                  idle:
                    inference: {gpuUtilizationBelow: 5, for: 30m, action: scaleToZero, grace: 10m}
                    batch: {gpuUtilizationBelow: 5, for: 30m, action: stop, grace: 10m}
            """)
        let loaded = ContractLoader.load(file)
        return try #require(loaded.contract, "\(loaded.diagnostics)")
    }

    static func service(_ name: String) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: InferenceService
        metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
        spec:
          size: m
          model: \(name)@1.0.0
          image: docker.io/library/python:3.12-slim
          command: [python3, -m, http.server, "8080"]
          port: 8080
        """
    }

    static let job = """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: embed, team: search, env: dev, owner: alice@acme.example}
        spec:
          size: gpu
          tasks: 1
          image: docker.io/library/python:3.12-slim
          command: [python3, -c, "import time; time.sleep(86400)"]
        """

    func reading(_ e: WorkloadEntry?, _ utilization: Double) -> WorkloadTelemetryView? {
        e.map { WorkloadTelemetryView(workload: $0.id, name: $0.name, team: $0.team, env: $0.env, kind: $0.kind, gpus: 1, utilization: utilization,
                                      memoryUsedMiB: 1024, throttling: []) }
    }

    @Test func anIdleServiceIsNoticedScaledToZeroAndWokenABusyOneIsUntouched() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-idle")
        let h = try Harness(contract: try Self.contract(in: dir))
        h.backend.setNodes([NodeInventory(name: "l4-0", cpuMilli: 64_000, memoryMiB: 256 * 1024, gpus: 4, accelerator: "l4")])
        let cp = try await h.controlPlane()
        let idle = try await cp.submit(text: Self.service("idle"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let busy = try await cp.submit(text: Self.service("busy"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let job = try await cp.submit(text: Self.job, requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        for id in [idle, busy, job] { #expect(await cp.current(id)?.state == .running, "\(id)") }
        let t0 = h.clock.now

        // Telemetry every 10 s: the idle service at 1-3%, the busy one at 70%, the job at 2%.
        func sample() async {
            let tick = Int(h.clock.now.timeIntervalSince(t0) / 10)
            let views = [reading(await cp.current(idle), Double(1 + tick % 3)), reading(await cp.current(busy), 70), reading(await cp.current(job), 2)]
            await cp.observeGPUs(views.compactMap { $0 }, at: h.clock.now)
        }
        func run(seconds: Int) async {
            for _ in stride(from: 0, to: seconds, by: 10) {
                await sample()
                h.clock.advance(by: 10)
                await cp.tick()
            }
        }
        await run(seconds: 1790)
        #expect(await cp.current(idle)?.message == nil, "not before 30m")
        await run(seconds: 20)
        // Noticed at 30m: its message says what follows and when; the audit record has the series.
        let noticed = try #require(await cp.current(idle))
        #expect(noticed.state == .running && noticed.message?.hasPrefix("idle: GPU utilization under 5.0%") == true
                && noticed.message?.contains("It is scaled to zero at") == true, "\(noticed.message ?? "-")")
        #expect(try await cp.why(idle, by: Lifecycle.alice).message.contains("running"))
        await run(seconds: 590)
        #expect(await cp.current(idle)?.state == .running, "the grace is 10m")
        await run(seconds: 20)

        // Scaled to zero after the grace: its GPU is given back, and it waits for a request.
        let zero = try #require(await cp.current(idle))
        #expect(zero.state == .queued && zero.scaledToZeroAt != nil && zero.placements.isEmpty, "\(zero.state) \(zero.message ?? "")")
        #expect(h.backend.state.withLock { $0.stopped }.contains(AttemptRef(workload: idle, attempt: 1)))
        let why = try await cp.why(idle, by: Lifecycle.alice)
        #expect(why.reason == "scaledToZero" && why.message.contains("the next request through the inference gateway brings it back"), "\(why.message)")
        // The job under `stop` is cancelled, with the evidence.
        let stopped = try #require(await cp.current(job))
        #expect(stopped.state == .cancelled && stopped.cause == "Idle" && stopped.message?.contains("GPU utilization under 5.0%") == true, "\(stopped.state) \(stopped.message ?? "")")
        // The busy one is untouched.
        let untouched = try #require(await cp.current(busy))
        #expect(untouched.state == .running && untouched.attempt == 1 && untouched.message == nil)
        await run(seconds: 600)
        #expect(await cp.current(idle)?.state == .queued, "scaled to zero, it is not admitted by itself")

        // A request wakes it: admitted again, as the next attempt.
        #expect(await cp.wake(team: "search", service: "idle", by: "alice@acme.example") == .waking)
        #expect(await cp.wake(team: "search", service: "idle", by: "alice@acme.example") == .starting, "a second request finds it on its way")
        #expect(await cp.wake(team: "search", service: "nope", by: "alice@acme.example") == .none)
        await cp.tick()
        let back = try #require(await cp.current(idle))
        #expect(back.state == .running && back.attempt == 2 && back.scaledToZeroAt == nil, "\(back.state) attempt \(back.attempt)")

        let audit = try await h.store.auditRecords(AuditQuery(since: nil)).filter { $0.actorID == AuditActor.idleReclaim.id }
        #expect(audit.map(\.action) == ["idle-notice", "idle-notice", "scale-to-zero", "cancel", "wake"], "\(audit.map { "\($0.action) \($0.object)" })")
        let scaled = try #require(audit.first { $0.action == "scale-to-zero" })
        #expect(scaled.object == "workload/\(idle)" && scaled.detail.contains("(241 readings): mean 2.0%, max 3.0%; series"), "\(scaled.detail)")
    }
}
