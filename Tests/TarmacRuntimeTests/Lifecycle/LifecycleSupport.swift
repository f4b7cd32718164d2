import TarmacCore
import TarmacKinds
import Foundation
import TarmacContract
import TarmacPlanning
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// The example platform, documents for it, and a control plane over a real SQLite file, a fake backend and a manual clock.
enum Lifecycle {
    static let contract: Contract = ContractLoader.load(Fixtures.examplePlatform).contract!

    /// The example platform with `extra` added to its base layer's spec (two-space indented lines), from a copy in `dir`.
    static func contract(adding extra: String, in dir: TemporaryDirectory) throws -> Contract {
        let source = (Fixtures.examplePlatform as NSString).deletingLastPathComponent
        let copy = dir.path + "/platform"
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let base = try String(contentsOfFile: copy + "/base.yaml", encoding: .utf8)
        try (base + "\n" + extra + "\n").write(toFile: copy + "/base.yaml", atomically: true, encoding: .utf8)
        let loaded = ContractLoader.load(copy + "/" + (Fixtures.examplePlatform as NSString).lastPathComponent)
        guard let c = loaded.contract else { throw LifecycleFailure("the changed example platform does not load: \(loaded.diagnostics)") }
        return c
    }
    static let admin = Principal(tokenID: "tok-admin", name: "admin", role: .admin, team: nil)
    static let alice = Principal(tokenID: "tok-alice", name: "alice@acme.example", role: .member, team: "search")

    /// A batch job of team search.
    static func batch(_ name: String, size: String = "cpu-small", retries: Int = 2, priority: String? = nil, maxDuration: String? = nil,
                      tasks: Int = 1, parallelism: Int = 1) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
        spec:
          size: \(size)
          tasks: \(tasks)
          parallelism: \(parallelism)
          maxRetries: \(retries)
          image: docker.io/library/python:3.12-slim
          command: [python3, -c, "print('ok')"]
        \(priority.map { "  priority: \($0)" } ?? "")
        \(maxDuration.map { "  maxDuration: \($0)" } ?? "")
        """
    }

    /// A training job of team search.
    static func training(_ name: String, workers: Int = 1, maxDuration: String? = nil) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
        spec:
          size: cpu-small
          workers: \(workers)
          image: docker.io/library/python:3.12-slim
          command: [python3, train.py]
        \(maxDuration.map { "  maxDuration: \($0)" } ?? "")
        """
    }

    /// A tracked record of a freshly submitted document, for the pure state machine.
    static func tracked(_ source: String, id: String = "wl-1", at now: Date) -> TrackedWorkload {
        let plan = Kinds.plan(source: source, contract: contract)!
        let w = plan.workload
        let e = WorkloadEntry(id: id, name: w.metadata.name, team: w.metadata.team, env: w.metadata.env, kind: w.kind.rawValue,
                              owner: w.metadata.owner, submittedBy: "admin", requestID: nil, size: w.size, podCount: w.podCount,
                              priority: plan.priority, source: source, maxAttempts: plan.maxAttempts, now: now)
        return TrackedWorkload(entry: e, plan: plan)
    }

    static func placements(_ n: Int) -> [PodPlacement] { (0..<n).map { _ in PodPlacement(node: "node-0", gpus: [], gpuMilli: 0) } }
    static let charge = Charge(cpuMilli: 500, memoryMiB: 512, gpuMilli: [:])
}

struct LifecycleFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A control plane under test: a temporary SQLite store, a fake backend, virtual time.
final class Harness: Sendable {
    let dir: TemporaryDirectory
    let clock: ManualClock
    let backend: FakeBackend
    let store: SQLiteStore
    let contract: Contract

    init(cpus: Int = 2, reportsStarts: Bool = false, canGrow: Bool = false, contract: Contract = Lifecycle.contract) throws {
        self.contract = contract
        dir = try TemporaryDirectory(prefix: "tarmac-lifecycle")
        clock = ManualClock()
        backend = FakeBackend(cpus: cpus, reportsStarts: reportsStarts, canGrow: canGrow)
        store = try SQLiteStore(path: dir.path + "/tarmac.db")
    }

    /// A control plane over the same store and backend (a restart is a second one).
    func controlPlane() async throws -> ControlPlane {
        let cp = ControlPlane(contract: contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: backend,
                              config: ControlPlaneConfig(idleCycle: .seconds(1), fullCycle: .seconds(1), advertiseURL: "http://127.0.0.1:1"), clock: clock)
        try await cp.start()
        return cp
    }
}

/// The first `count` elements of a stream; gives up (and returns what it has) after `limit` seconds of real time, so a
/// missing element fails the test instead of hanging it.
func first<T: Sendable>(_ count: Int, of stream: AsyncStream<T>, limit: Double = 20) async -> [T] {
    await withTaskGroup(of: [T]?.self) { group in
        group.addTask {
            var out: [T] = []
            for await t in stream {
                out.append(t)
                if out.count == count { break }
            }
            return out
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(limit))
            return nil
        }
        var result: [T] = []
        for await r in group {
            if let r {
                result = r
                group.cancelAll()
                break
            }
            group.cancelAll()
            break
        }
        return result
    }
}
