#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Metrics
import Prometheus
import TarmacCore
import TarmacMetering
import TarmacModel
import TarmacStoreSQLite
import TarmacTesting

/// What metering and telemetry cost the control plane with 1,000 running pods on 125 8-GPU nodes: one telemetry
/// sample (dcgm-exporter's page for 1,000 GPUs read, readings given to the pods by share, every workload's gauges set
/// on a real Prometheus registry), the ledger's catch-up over the transitions of a second (on SQLite), and the budgets'
/// read of the month's ledger (every 5 s). Printed per sampling interval as a share of one core; peak memory.
func meteringBenchmark(_ args: [String]) async {
    let pods = Int(option("--pods", args) ?? "1000") ?? 1000
    let nodes = Int(option("--nodes", args) ?? "125") ?? 125
    let churn = Int(option("--transitions-per-second", args) ?? "20") ?? 20
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
    func cpu() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
    // 1,000 pods on 125 x 8 GPUs: most hold a whole GPU, every fourth pod shares its GPU with the next at 0.5.
    var holds: [GPUAttribution.Hold] = []
    var gpu = 0
    var i = 0
    while i < pods {
        let node = "gpu-\(gpu / 8)", index = gpu % 8
        if i % 4 == 0, i + 1 < pods {
            holds.append(.init(workload: "wl-\(i)", node: node, gpu: index, milli: 500))
            holds.append(.init(workload: "wl-\(i + 1)", node: node, gpu: index, milli: 500))
            i += 2
        } else {
            holds.append(.init(workload: "wl-\(i)", node: node, gpu: index, milli: 1000))
            i += 1
        }
        gpu = (gpu + 1) % (nodes * 8)
    }
    // dcgm-exporter's page for every GPU (five series each, its labels).
    var page = ""
    for n in 0..<nodes {
        for g in 0..<8 {
            let labels = #"gpu="\#(g)",UUID="GPU-\#(n)-\#(g)",device="nvidia\#(g)",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-\#(n)""#
            page += "DCGM_FI_DEV_GPU_UTIL{\(labels)} \((n * 8 + g) % 100)\nDCGM_FI_DEV_FB_USED{\(labels)} 40960\nDCGM_FI_DEV_FB_FREE{\(labels)} 40599\n"
            page += "DCGM_FI_DEV_POWER_USAGE{\(labels)} 388.1\nDCGM_FI_DEV_CLOCKS_EVENT_REASONS{\(labels)} \(g == 0 ? 32 : 0)\n"
        }
    }
    let labels = Dictionary(uniqueKeysWithValues: (0..<pods).map { ("wl-\($0)", [("team", ["search", "ads", "platform", "assistants"][$0 % 4]), ("env", "dev"),
                                                                                  ("workload", "job-\($0)"), ("kind", "TrainingJob")]) })
    var gauges = GPUGauges()
    var parts = (parse: 0.0, attribute: 0.0, gauges: 0.0, idle: 0.0)
    // Idle reclaim judges every sample: every workload under a policy (a tenth of them idle).
    var judge = IdleJudge()
    let policy = IdlePolicy(gpuUtilizationBelow: 5, duration: TimeSpan(seconds: 1800), action: .scaleToZero, grace: TimeSpan(seconds: 600))
    var clock = Date(timeIntervalSince1970: 1_800_000_000)
    func sample() {
        var c = cpu()
        let samples = DCGMExporter.samples(page, node: "unknown")
        parts.parse += cpu() - c
        c = cpu()
        let (by, _) = GPUAttribution.attribute(samples, holds: holds)
        parts.attribute += cpu() - c
        c = cpu()
        for (id, u) in by { gauges.record(id, labels: labels[id]!, u) }
        for s in samples { gauges.device(s) }
        parts.gauges += cpu() - c
        c = cpu()
        let readings = by.map { id, u in IdleJudge.Reading(workload: id, utilization: id.hasSuffix("0") ? 1 : u.utilization / max(1, u.gpus.rounded(.up)), policy: policy) }
        _ = judge.observe(readings, at: clock)
        clock += 1
        parts.idle += cpu() - c
    }
    sample()  // the series exist from here on, as in a running control plane
    parts = (0, 0, 0, 0)
    let rounds = 30
    var c0 = cpu()
    for _ in 0..<rounds { sample() }
    let perSample = (cpu() - c0) / Double(rounds)

    // The ledger: a week of rows for every pod, then a second's transitions caught up, many times.
    do {
        let dir = try TemporaryDirectory(prefix: "tarmac-metering-bench")
        let store = try SQLiteStore(path: dir.path + "/tarmac.db")
        let start = Date(timeIntervalSince1970: 1_796_601_600)
        var entries: [WorkloadEntry] = []
        for p in 0..<pods {
            var e = WorkloadEntry(id: "wl-\(p)", name: "job-\(p)", team: ["search", "ads", "platform", "assistants"][p % 4], env: "dev", kind: "TrainingJob", owner: nil,
                                  submittedBy: "alice", requestID: nil, size: "large", podCount: 1, priority: 0, source: "", maxAttempts: 3, now: start)
            e.state = .running
            entries.append(e)
        }
        for batch in stride(from: 0, to: pods, by: 100) {
            for e in entries[batch..<min(pods, batch + 100)] {
                _ = try await store.insert(e, plan: nil, audit: AuditDraft(time: start, actor: .scheduler, action: "submit", object: "workload/\(e.id)"), transition: nil)
            }
        }
        var rows: [UsageRow] = []
        for d in 0..<7 {
            for e in entries {
                rows.append(UsageRow(day: UsageLedger.day(start.timeIntervalSince1970 - Double(d) * 86_400), workload: e.id, name: e.name, team: e.team, env: "dev",
                                     kind: e.kind, user: "alice", model: nil, accelerator: "h100", gpuSeconds: 86_400, cpuSeconds: 86_400 * 12, memoryGiBSeconds: 86_400 * 100))
            }
        }
        _ = try await store.applyUsage(UsageBatch(through: 1, rows: rows))
        // A second's transitions: `churn` pods account their usage (a scale, a checkpoint, an end).
        let logger = Logger(label: "bench")
        var ledgerSeconds = 0.0
        let seconds = 20
        for s in 0..<seconds {
            var changed: [WorkloadEntry] = []
            var ts: [Transition] = []
            for k in 0..<churn {
                let before = entries[(s * churn + k) % pods]
                var after = before
                after.gpuSeconds += 60
                after.cpuSeconds += 720
                after.memoryGiBSeconds = (after.memoryGiBSeconds ?? 0) + 6000
                var t = Transition("scale-up", before: before, after: after, at: start.addingTimeInterval(Double(s)))
                t.accelerator = "h100"
                ts.append(t)
                changed.append(after)
                entries[(s * churn + k) % pods] = after
            }
            try await store.update(changed, audit: [], transitions: ts)
            c0 = cpu()
            await MeteringService.catchUp(store, logger: logger)
            ledgerSeconds += cpu() - c0
        }
        let perSecondLedger = ledgerSeconds / Double(seconds)
        // The budgets' look: the month's rows (every 5 s).
        c0 = cpu()
        for _ in 0..<5 { _ = try await store.usageTotals(since: "2026-12-01", until: nil) }
        let perBudgetLook = (cpu() - c0) / 5

        print("Metering and telemetry with \(pods) running pods on \(nodes) nodes of 8 GPUs (dcgm-exporter's page: \(nodes * 8) GPUs, 5 series each);")
        print("the ledger: 7 days of rows for every pod, \(churn) transitions a second; budgets read the month's rows every 5 s.")
        print(String(format: "one telemetry sample (page read, readings by share, %d workloads' gauges on a Prometheus registry, idle judged): %.2f ms CPU", pods, perSample * 1000))
        print(String(format: "  of which: page read %.2f ms, attribution %.2f ms, gauges %.2f ms, idle judgement %.2f ms", parts.parse / Double(rounds) * 1000,
                     parts.attribute / Double(rounds) * 1000, parts.gauges / Double(rounds) * 1000, parts.idle / Double(rounds) * 1000))
        print(String(format: "ledger catch-up, per second of transitions: %.2f ms CPU; budgets' look at the month: %.2f ms CPU (every 5 s)", perSecondLedger * 1000, perBudgetLook * 1000))
        print("sampling   telemetry   ledger   budgets   total, share of one core")
        for interval in [1.0, 10.0, 30.0] {
            let t = perSample / interval, l = perSecondLedger, b = perBudgetLook / 5
            print(String(format: "%6.0f s   %8.2f%%   %5.2f%%   %6.2f%%   %6.2f%%", interval, t * 100, l * 100, b * 100, (t + l + b) * 100))
        }
        print(String(format: "peak memory: %.0f MiB", peakRSSMiB()))
    } catch {
        print("metering failed: \(error)")
        exit(1)
    }
}
