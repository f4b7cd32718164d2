import TarmacCore
import TarmacKinds
import Foundation
import TarmacPlanning
import TarmacContract
import TarmacKubernetesBackend
import TarmacModel
import TarmacRuntime
import TarmacTesting

enum BackendSupport {
    static let contract: Contract = {
        let r = ContractLoader.load(Fixtures.examplePlatform)
        guard let c = r.contract else { fatalError("example platform does not load: \(r.diagnostics)") }
        return c
    }()

    static func workload(_ file: String) -> Workload {
        guard let w = DocumentReader.read(file: Fixtures.path("examples/workloads/\(file)")).workloads.first else { fatalError("no workload in \(file)") }
        return w
    }

    /// The workload of an example file, resolved against the example platform.
    static func plan(_ file: String) -> WorkloadPlan {
        guard let p = Kinds.plan(workload(file), contract: contract) else { fatalError("\(file) does not resolve") }
        return p
    }

    static func objects(_ file: String, id: String = "wl-test") throws -> WorkloadObjects {
        try WorkloadObjects(id: id, plan: plan(file), contract: contract)
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// A pod of a workload's attempt, as the API server would show it.
    static func pod(_ name: String, id: String = "wl-test", attempt: Int = 1, index: Int? = nil, phase: String = "Running",
                    state: [String: Any]? = nil, lastState: [String: Any]? = nil, conditions: [[String: Any]] = [],
                    reason: String? = nil, message: String? = nil, node: String? = nil) -> [String: Any] {
        var meta: [String: Any] = ["name": name, "namespace": "search-dev",
                                   "labels": ["tarmac.dev/workload-id": id, "tarmac.dev/attempt": String(attempt)]]
        if let index { meta["annotations"] = ["batch.kubernetes.io/job-completion-index": String(index)] }
        var container: [String: Any] = ["name": "worker"]
        if let state { container["state"] = state }
        if let lastState { container["lastState"] = lastState }
        var status: [String: Any] = ["phase": phase, "containerStatuses": [container], "conditions": conditions]
        if let reason { status["reason"] = reason }
        if let message { status["message"] = message }
        var spec: [String: Any] = [:]
        if let node { spec["nodeName"] = node }
        return ["metadata": meta, "status": status, "spec": spec]
    }

    static func job(attempt: Int, condition: String? = nil, reason: String? = nil, message: String? = nil) -> [String: Any] {
        var status: [String: Any] = [:]
        if let condition {
            status["conditions"] = [["type": condition, "status": "True", "reason": reason ?? "", "message": message ?? ""]]
        }
        return ["metadata": ["name": "ranker-ft", "annotations": ["tarmac.dev/attempt": String(attempt)], "labels": ["tarmac.dev/workload-id": "wl-test"]],
                "spec": ["suspend": false], "status": status]
    }
}
