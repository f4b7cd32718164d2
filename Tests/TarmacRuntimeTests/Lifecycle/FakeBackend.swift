import TarmacCore
import Foundation
import Synchronization
import TarmacPlanning
import TarmacRuntime

/// An in-process backend for lifecycle tests: it records what the control plane asks and reports only what the test
/// tells it to (pod exits, starts), so every step is decided by the test, in virtual time.
final class FakeBackend: Backend, Sendable {
    struct State {
        var nodes: [NodeInventory]
        var launched: [PodLaunch] = []
        var stopped: [AttemptRef] = []
        var released: [String] = []
        var exits: [PodExit] = []
        var starts: [AttemptRef] = []
        var failLaunches = false
        var recovery: [String: [PodRecovery]] = [:]
    }

    let state: Mutex<State>
    let reportsStarts: Bool
    let inventoryCanGrow: Bool

    init(cpus: Int = 2, memoryGiB: Int = 8, reportsStarts: Bool = false, canGrow: Bool = false) {
        inventoryCanGrow = canGrow
        state = Mutex(State(nodes: [NodeInventory(name: "node-0", cpuMilli: cpus * 1000, memoryMiB: memoryGiB * 1024, gpus: 0, accelerator: nil)]))
        self.reportsStarts = reportsStarts
    }

    func nodes() async throws -> [NodeInventory] { state.withLock { $0.nodes } }

    func launch(_ pods: [PodLaunch]) async throws {
        struct LaunchError: Error, CustomStringConvertible { var description: String { "exec: no such file" } }
        try state.withLock { s in
            if s.failLaunches { throw LaunchError() }
            s.launched += pods
        }
    }

    func stop(workload: String, attempt: Int) async { state.withLock { $0.stopped.append(AttemptRef(workload: workload, attempt: attempt)) } }
    func poll() async -> [PodExit] { state.withLock { s in defer { s.exits = [] }; return s.exits } }
    func started() async -> [AttemptRef] { state.withLock { s in defer { s.starts = [] }; return s.starts } }
    func release(workload: String) async { state.withLock { $0.released.append(workload) } }

    func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        state.withLock { $0.recovery[workload] ?? Array(repeating: .running, count: pods) }
    }

    func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        LogChunk(data: Data(), nextOffset: offset)
    }

    // MARK: what the test tells it

    /// Every pod of the attempt exits with `code` (reported at the next poll).
    func exitAll(_ workload: String, attempt: Int, pods: Int = 1, code: Int = 0, reason: PodExit.Reason = .exited) {
        state.withLock { s in
            for p in 0..<pods { s.exits.append(PodExit(workload: workload, attempt: attempt, pod: p, reason: reason, exitCode: code)) }
        }
    }

    func start(_ workload: String, attempt: Int) { state.withLock { $0.starts.append(AttemptRef(workload: workload, attempt: attempt)) } }
    var launched: [PodLaunch] { state.withLock { $0.launched } }
    var stopped: [AttemptRef] { state.withLock { $0.stopped } }
    var released: [String] { state.withLock { $0.released } }
    func setNodes(_ nodes: [NodeInventory]) { state.withLock { $0.nodes = nodes } }
    func failLaunches(_ fail: Bool) { state.withLock { $0.failLaunches = fail } }
    func setRecovery(_ workload: String, _ r: [PodRecovery]) { state.withLock { $0.recovery[workload] = r } }
}
