import TarmacCore
import Foundation
import Synchronization
import TarmacPlanning

/// An in-process backend for lifecycle and router tests: it records what the control plane asks and reports only what the test
/// tells it to (pod exits, starts), so every step is decided by the test, in virtual time.
public final class FakeBackend: Backend, Sendable {
    public struct State {
        public var nodes: [NodeInventory]
        public var launched: [PodLaunch] = []
        public var stopped: [AttemptRef] = []
        public var released: [String] = []
        public var exits: [PodExit] = []
        public var starts: [AttemptRef] = []
        public var failLaunches = false
        public var recovery: [String: [PodRecovery]] = [:]
    }

    public let state: Mutex<State>
    public let reportsStarts: Bool
    public let inventoryCanGrow: Bool

    public init(cpus: Int = 2, memoryGiB: Int = 8, reportsStarts: Bool = false, canGrow: Bool = false) {
        inventoryCanGrow = canGrow
        state = Mutex(State(nodes: [NodeInventory(name: "node-0", cpuMilli: cpus * 1000, memoryMiB: memoryGiB * 1024, gpus: 0, accelerator: nil)]))
        self.reportsStarts = reportsStarts
    }

    public func nodes() async throws -> [NodeInventory] { state.withLock { $0.nodes } }

    public func launch(_ pods: [PodLaunch]) async throws {
        struct LaunchError: Error, CustomStringConvertible { var description: String { "exec: no such file" } }
        try state.withLock { s in
            if s.failLaunches { throw LaunchError() }
            s.launched += pods
        }
    }

    public func stop(workload: String, attempt: Int) async { state.withLock { $0.stopped.append(AttemptRef(workload: workload, attempt: attempt)) } }
    public func poll() async -> [PodExit] { state.withLock { s in defer { s.exits = [] }; return s.exits } }
    public func started() async -> [AttemptRef] { state.withLock { s in defer { s.starts = [] }; return s.starts } }
    public func release(workload: String) async { state.withLock { $0.released.append(workload) } }

    public func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        state.withLock { $0.recovery[workload] ?? Array(repeating: .running, count: pods) }
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        LogChunk(data: Data(), nextOffset: offset)
    }

    // MARK: what the test tells it

    /// Every pod of the attempt exits with `code` (reported at the next poll).
    public func exitAll(_ workload: String, attempt: Int, pods: Int = 1, code: Int = 0, reason: PodExit.Reason = .exited) {
        state.withLock { s in
            for p in 0..<pods { s.exits.append(PodExit(workload: workload, attempt: attempt, pod: p, reason: reason, exitCode: code)) }
        }
    }

    public func start(_ workload: String, attempt: Int) { state.withLock { $0.starts.append(AttemptRef(workload: workload, attempt: attempt)) } }
    public var launched: [PodLaunch] { state.withLock { $0.launched } }
    public var stopped: [AttemptRef] { state.withLock { $0.stopped } }
    public var released: [String] { state.withLock { $0.released } }
    public func setNodes(_ nodes: [NodeInventory]) { state.withLock { $0.nodes = nodes } }
    public func failLaunches(_ fail: Bool) { state.withLock { $0.failLaunches = fail } }
    public func setRecovery(_ workload: String, _ r: [PodRecovery]) { state.withLock { $0.recovery[workload] = r } }
}
