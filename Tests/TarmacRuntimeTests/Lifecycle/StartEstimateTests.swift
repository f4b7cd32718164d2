import Foundation
import TarmacAPI
import TarmacCore
import TarmacRuntime
import TarmacTesting
import Synchronization
import Testing

/// The estimated start (`why`, `POST /v1/workloads/check`, the portal) against what then happens, on a test clock: a
/// machine of 2 CPUs runs two 1-CPU training jobs whose deadlines are 10 and 5 minutes away; a batch job waits.
@Suite struct StartEstimateTests {
    func setUp() async throws -> (Harness, ControlPlane, a: String, b: String) {
        let h = try Harness(cpus: 2)
        let cp = try await h.controlPlane()
        let a = try await cp.submit(text: Lifecycle.training("a", maxDuration: "10m"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let b = try await cp.submit(text: Lifecycle.training("b", maxDuration: "5m"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let (sa, sb) = (await cp.current(a)?.state, await cp.current(b)?.state)
        #expect(sa == .running && sb == .running)
        return (h, cp, a, b)
    }

    /// Ticks until the workload is admitted (the clock does not move), returning when.
    func admitted(_ id: String, _ cp: ControlPlane) async -> Date? {
        for _ in 0..<5 {
            await cp.tick()
            if let t = await cp.current(id)?.admittedAt { return t }
        }
        return nil
    }

    @Test func whenNothingElseArrivesTheEstimateIsExact() async throws {
        let (h, cp, _, b) = try await setUp()
        let t0 = h.clock.now
        let c = try await cp.submit(text: Lifecycle.batch("c", maxDuration: "10m"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let why = try await cp.why(c, by: Lifecycle.alice)
        let estimate = try #require(why.estimatedStart, "a queued workload has an estimate: \(why)")
        // b's deadline is the first end: its CPU is what c gets.
        #expect(estimate.at == t0.addingTimeInterval(300), "\(estimate)")
        #expect(estimate.inSeconds == 300 && estimate.message.hasPrefix("estimated start in 5m"), "\(estimate.message)")
        #expect(estimate.assumptions.contains { $0.contains("maxDuration deadline") })
        // The same answer for a document not yet submitted, with what it waits for now.
        let check = try await cp.check(text: Lifecycle.batch("d", maxDuration: "10m"), by: Lifecycle.alice, runsImages: false)
        #expect(check.valid && check.feasibility?.verdict == "waits", "\(check)")
        // d is behind c (same priority, later): b's CPU holds c (0.5) and d (0.5).
        #expect(check.feasibility?.estimatedStart?.at == t0.addingTimeInterval(300), "\(String(describing: check.feasibility))")

        h.clock.advance(by: 150)
        await cp.tick()
        #expect(await cp.current(c)?.state == .queued)
        #expect(try await cp.why(c, by: Lifecycle.alice).estimatedStart?.inSeconds == 150, "the same instant, seen from later")
        h.clock.advance(by: 150)
        let started = try #require(await admitted(c, cp))
        #expect(await cp.current(b)?.cause == "DeadlineExceeded")
        print("estimated start \(estimate.at!), admitted \(started): error \(started.timeIntervalSince(estimate.at!)) s")
        #expect(started == estimate.at)
    }

    @Test func workArrivingAheadMakesItLaterAndTheErrorIsTold() async throws {
        let (h, cp, _, _) = try await setUp()
        let t0 = h.clock.now
        let c = try await cp.submit(text: Lifecycle.batch("c", maxDuration: "10m"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let first = try #require(try await cp.why(c, by: Lifecycle.alice).estimatedStart?.at)
        #expect(first == t0.addingTimeInterval(300))
        // A minute later a training job (priority 100, above batch's 50) arrives: it takes b's CPU when b ends.
        h.clock.advance(by: 60)
        let d = try await cp.submit(text: Lifecycle.training("d", maxDuration: "10m"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let second = try #require(try await cp.why(c, by: Lifecycle.alice).estimatedStart)
        #expect(second.at == t0.addingTimeInterval(600), "now after d, until a's deadline: \(second)")
        #expect(second.message.contains("after 1 workload ahead of it"), "\(second.message)")
        h.clock.advance(by: 240)
        #expect(await admitted(d, cp) == t0.addingTimeInterval(300))
        #expect(await cp.current(c)?.state == .queued)
        h.clock.advance(by: 300)
        let started = try #require(await admitted(c, cp))
        let error = started.timeIntervalSince(first)
        print("first estimate \(first), admitted \(started): error \(error) s, from work that arrived after the estimate; the estimate made after it: error \(started.timeIntervalSince(second.at!)) s")
        #expect(error == 300)
        #expect(started == second.at)
    }

    @Test func workWithNoKnownEndGivesNoTime() async throws {
        let h = try Harness(cpus: 2)
        let cp = try await h.controlPlane()
        for name in ["a", "b"] { _ = try await cp.submit(text: Lifecycle.training(name), requestID: nil, by: Lifecycle.alice, runsImages: false) }
        await cp.tick()
        let c = try await cp.submit(text: Lifecycle.batch("c"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        let e = try #require(try await cp.why(c, by: Lifecycle.alice).estimatedStart)
        #expect(e.at == nil && e.message.contains("no known end"), "\(e)")
        #expect(e.assumptions.contains { $0.hasPrefix("2 workloads with no known end") }, "\(e.assumptions)")
    }

    /// A clock that moves a millisecond at every reading: a loaded machine, where time passes while the estimate runs.
    final class MovingClock: RuntimeClock, Sendable {
        let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { time.withLock { $0 = $0.addingTimeInterval(0.001); return $0 } }
        var elapsed: Duration { .seconds(time.withLock { $0.timeIntervalSince1970 - 1_800_000_000 }) }
    }

    /// "Fits now" is a start at the instant the check began, however long the check itself took (a check under load
    /// once said "waits" for work that was admitted at its first cycle).
    @Test func fitsNowDoesNotDependOnHowLongTheCheckTook() async throws {
        let cp = ControlPlane(contract: Lifecycle.contract, store: InMemoryStore(), backend: FakeBackend(cpus: 2), clock: MovingClock())
        try await cp.start()
        let check = try await cp.check(text: Lifecycle.batch("now"), by: Lifecycle.alice, runsImages: false)
        #expect(check.feasibility?.verdict == "fitsNow", "\(String(describing: check.feasibility))")
        #expect(check.feasibility?.estimatedStart?.inSeconds == 0)
    }
}
