import Foundation
import TarmacAPI
import TarmacContract
import TarmacCore
import TarmacMetering
import TarmacModel
import TarmacRuntime
import TarmacTesting
import Testing

/// Budgets that act (#27), on a test clock: team search's monthly budget in money is spent by a job; past warnAt it is
/// warned, over the budget its next workload waits with reason `budget` and the figures while another team's is
/// admitted; a raised budget (a contract reload) lets it in; the audit trail has the crossing and the lift.
@Suite struct BudgetTests {
    static func contract(monthly: Double, stopPreemptible: Bool = false, in dir: TemporaryDirectory) throws -> Contract {
        let file = try dir.write("budget-\(monthly)-\(stopPreemptible).yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              teams:
                search:
                  budget: {monthly: \(monthly), warnAt: 0.5, stopPreemptible: \(stopPreemptible)}
            """)
        let loaded = ContractLoader.load(file)
        return try #require(loaded.contract, "\(loaded.diagnostics)")
    }

    @Test func aTeamOverItsBudgetWaitsOthersDoNotAndARaiseLetsItIn() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-budget")
        // cpu-small: 1 CPU and 1 GiB, at 0.04 and 0.005 an hour: 0.045 an hour; 0.01 lasts 800 s.
        let h = try Harness(cpus: 4, contract: try Self.contract(monthly: 0.01, in: dir))
        let cp = try await h.controlPlane()
        let burn = try await cp.submit(text: Lifecycle.training("burn"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(burn)?.state == .running)
        // Half way (400 s) the team is warned, while the job still runs (its usage is not in the ledger yet).
        h.clock.advance(by: 500)
        await cp.tick()
        let warned = try await cp.submit(text: Lifecycle.batch("warned"), requestID: nil, by: Lifecycle.alice, runsImages: false)
        #expect(warned.warnings.contains { $0.rule == "budget" && $0.message.contains("of its monthly budget of 0.01") && $0.message.contains("%)") },
                "past warnAt a submit says so: \(warned.warnings.map(\.message))")
        _ = try await cp.cancel(warned.workload.id, by: Lifecycle.alice)
        let running = try await cp.why(burn, by: Lifecycle.alice)
        #expect(running.message.contains("budget: team search spent") && running.message.contains("of its monthly budget of 0.01"), "why of a running workload says it: \(running.message)")
        h.clock.advance(by: 500)
        h.backend.exitAll(burn, attempt: 1, code: 0)
        await cp.tick()
        h.clock.advance(by: 6)
        await cp.tick()
        let status = try #require(await cp.budgetStatuses().first { $0.team == "search" })
        #expect(status.state == .exceeded && abs(status.spent - 1000 * 0.045 / 3600) < 1e-9, "\(status)")

        // Over the budget: search's next workload waits, with the figures; ads' is admitted.
        let next = try await cp.submit(text: Lifecycle.batch("next"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let ads = try await cp.submit(text: Lifecycle.batch("other").replacingOccurrences(of: "team: search", with: "team: ads"), requestID: nil, by: Lifecycle.admin,
                                      runsImages: false).workload.id
        await cp.tick()
        #expect(await cp.current(next)?.state == .queued)
        let other = await cp.current(ads)?.state
        #expect(other == .admitted || other == .running, "another team is not held")
        let why = try await cp.why(next, by: Lifecycle.alice)
        #expect(why.reason == "budget" && why.message.contains("team search spent 0.01 of its monthly budget of 0.01") && why.message.contains("waits until the month ends"),
                "\(why.reason ?? "-"): \(why.message)")
        #expect(why.facts?.resource == "money" && abs((why.facts?.needed ?? 0) - 0.0125) < 0.001 && why.facts?.available == 0.01, "\(String(describing: why.facts))")

        // A raised budget lets it in.
        try await cp.reload(try Self.contract(monthly: 5, in: dir))
        await cp.tick()
        await cp.tick()
        let let_in = await cp.current(next)?.state
        #expect(let_in == .admitted || let_in == .running, "\(String(describing: let_in))")
        let audit = try await h.store.auditRecords(AuditQuery(since: nil)).filter { $0.action.hasPrefix("budget-") }
        #expect(audit.map(\.action) == ["budget-warning", "budget-exceeded", "budget-restored"], "\(audit.map { "\($0.action): \($0.detail)" })")
        #expect(audit.allSatisfy { $0.object == "team/search" })
    }

    /// With `stopPreemptible`, crossing the budget also preempts the team's running jobs: they go back to the queue and
    /// wait with reason `budget`; another team's job runs on.
    @Test func overABudgetThatSaysSoTheTeamsRunningJobsArePreempted() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-budget-stop")
        let h = try Harness(cpus: 4, contract: try Self.contract(monthly: 0.01, stopPreemptible: true, in: dir))
        let cp = try await h.controlPlane()
        let burn = try await cp.submit(text: Lifecycle.training("burn"), requestID: nil, by: Lifecycle.alice, runsImages: false).workload.id
        let ads = try await cp.submit(text: Lifecycle.batch("other").replacingOccurrences(of: "team: search", with: "team: ads"), requestID: nil, by: Lifecycle.admin,
                                      runsImages: false).workload.id
        await cp.tick()
        let burnState = await cp.current(burn)?.state, adsState = await cp.current(ads)?.state
        #expect(burnState == .running && adsState == .running)
        // 0.01 at 0.045 an hour lasts 800 s: at 900 s the team is over, and its running job is preempted.
        h.clock.advance(by: 900)
        await cp.tick()
        await cp.tick()
        let stopped = try #require(await cp.current(burn))
        #expect(stopped.state == .queued && stopped.message?.contains("preempted by budget") == true, "\(stopped.state) \(stopped.message ?? "")")
        #expect(h.backend.state.withLock { $0.stopped }.contains(AttemptRef(workload: burn, attempt: 1)))
        let why = try await cp.why(burn, by: Lifecycle.alice)
        #expect(why.reason == "budget", "\(why.reason ?? "-"): \(why.message)")
        #expect(await cp.current(ads)?.state == .running, "another team's job runs on")
        let audit = try await h.store.auditRecords(AuditQuery(since: nil)).filter { $0.action == "preempt" }
        #expect(audit.map(\.object) == ["workload/\(burn)"] && audit.first?.detail.contains("over its budget") == true, "\(audit.map(\.detail))")
    }
}
