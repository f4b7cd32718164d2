import TarmacCore
import Metrics
import ServiceLifecycle

/// The first subscriber of the transition stream: it turns transitions into the usage metrics of `/metrics`
/// (`tarmac_gpu_seconds_total`, `tarmac_cpu_seconds_total`, `tarmac_admissions_total`, `tarmac_preemptions_total`,
/// `tarmac_completions_total`), so the control plane itself counts nothing.
public struct MeteringService: Service {
    let stream: AsyncStream<Transition>

    /// Subscribes at once, so no transition after this point is missed, even before `run()`.
    public init(_ transitions: TransitionStream) { stream = transitions.subscribe() }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var ledger = MeteringLedger()
            for await t in stream {
                Self.export(ledger.record(t))
            }
        }
    }

    static func export(_ e: MeteringLedger.Entry) {
        // Both series exist once a team has used anything (a CPU-only team shows 0 GPU-seconds, not no series).
        if e.gpuSeconds > 0 || e.cpuSeconds > 0 {
            FloatingPointCounter(label: "tarmac_gpu_seconds_total", dimensions: [("team", e.team)]).increment(by: e.gpuSeconds)
            FloatingPointCounter(label: "tarmac_cpu_seconds_total", dimensions: [("team", e.team)]).increment(by: e.cpuSeconds)
        }
        if e.admitted { Counter(label: "tarmac_admissions_total", dimensions: [("team", e.team)]).increment() }
        if e.preempted { Counter(label: "tarmac_preemptions_total", dimensions: [("team", e.team)]).increment() }
        if let state = e.completed { Counter(label: "tarmac_completions_total", dimensions: [("team", e.team), ("state", state)]).increment() }
    }
}
