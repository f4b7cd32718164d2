import Foundation
import TarmacModel
import TarmacPlanning

/// A backend for benchmarks only: the contract's pools as declared (each pool's `nodes`), and pods that "run" without a
/// process. A pod whose command is `sleep SECONDS` ends with exit code 0 that long after its launch; any other pod runs
/// until stopped. Everything else — admission, the store, the audit trail, the transition stream — is the real
/// control plane's, so what a benchmark measures through it is the control plane itself.
public actor SimulatedBackend: Backend {
    private let inventory: [NodeInventory]
    private let clock: ContinuousClock
    /// Per pod (workload, attempt, pod): when it ends, if it ends by itself.
    private var pods: [PodKey: ContinuousClock.Instant?] = [:]
    private var stopped: [PodExit] = []
    private var onEvent: (@Sendable () -> Void)?

    struct PodKey: Hashable {
        var workload: String
        var attempt: Int
        var pod: Int
    }

    public init(platform: Platform, clock: ContinuousClock = ContinuousClock()) {
        inventory = ContractInventory.declaredNodes(platform)
        self.clock = clock
    }

    public nonisolated var placeName: String { "the simulated nodes" }

    public func nodes() async throws -> [NodeInventory] { inventory }

    public func onEvent(_ handler: @escaping @Sendable () -> Void) { onEvent = handler }

    /// How long a pod runs: `sleep SECONDS` (also through `sh -c`), else until stopped.
    static func duration(_ command: [String]) -> Duration? {
        var words = command
        if words.count == 3, ["sh", "/bin/sh", "bash"].contains(words[0]), words[1] == "-c" {
            words = words[2].split(separator: " ").map(String.init)
        }
        guard words.count == 2, words[0] == "sleep" || words[0] == "/bin/sleep", let s = Double(words[1]), s >= 0, s.isFinite else { return nil }
        return .milliseconds(Int64((s * 1000).rounded()))
    }

    public func launch(_ launches: [PodLaunch]) async throws {
        let now = clock.now
        for l in launches {
            // A batch pod runs its completion indices one after another.
            let runs = max(1, l.completionIndices.count)
            // updateValue: a nil end (runs until stopped) must be stored, not read as a removal.
            let end = Self.duration(l.command).map { now + $0 * runs }
            pods.updateValue(end, forKey: PodKey(workload: l.workload, attempt: l.attempt, pod: l.pod))
            // The loop learns of the end when it happens, not at its next tick.
            if let end, let wake = onEvent {
                let clock = self.clock
                Task {
                    try? await Task.sleep(until: end, clock: clock)
                    wake()
                }
            }
        }
    }

    public func stop(workload: String, attempt: Int) async {
        for key in pods.keys where key.workload == workload && key.attempt == attempt {
            pods.removeValue(forKey: key)
            stopped.append(PodExit(workload: workload, attempt: attempt, pod: key.pod, reason: .stopped, signal: 15))
        }
    }

    public func poll() async -> [PodExit] {
        let now = clock.now
        var out = stopped
        stopped.removeAll()
        for (key, end) in pods {
            guard let end, end <= now else { continue }
            pods.removeValue(forKey: key)
            out.append(PodExit(workload: key.workload, attempt: key.attempt, pod: key.pod, reason: .exited, exitCode: 0))
        }
        return out
    }

    /// Nothing outlives the process: after a restart every pod that ran is lost.
    public func recover(workload: String, attempt: Int, pods count: Int) async -> [PodRecovery] {
        (0..<count).map { .finished(PodExit(workload: workload, attempt: attempt, pod: $0, reason: .lost, detail: "the simulated backend keeps nothing across restarts")) }
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        LogChunk(data: Data(), nextOffset: offset)
    }
}
