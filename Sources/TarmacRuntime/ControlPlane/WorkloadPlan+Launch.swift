import TarmacCore
import Foundation
import TarmacKinds
import TarmacModel
import TarmacPlanning

/// How a workload's pods reach the control plane's workload API: where, and with which credential.
public struct CheckpointAccess: Sendable, Hashable {
    public var url: String
    public var token: String
}

extension WorkloadPlan {
    /// The pods of one attempt, ready for a backend.
    func launches(for e: WorkloadEntry, trustDomain: String, graceSeconds: Double, now: Date, checkpoint: CheckpointAccess?,
                  identityURL: String? = nil, gatewayURL: String? = nil, bootstrap: (Int) -> String? = { _ in nil }) -> [PodLaunch] {
        let w = workload
        var base: [String: String] = [:]
        for (name, value) in PodEnvironment.common(w, size: size) { base[name] = value }
        // What only this control plane knows of a local pod: its workload's id and attempt, its identity, its URLs.
        base["TARMAC_WORKLOAD_ID"] = e.id
        base["TARMAC_ATTEMPT"] = String(e.attempt)
        // The workload's own identity: never the identity of the human who submitted it.
        base["TARMAC_WORKLOAD_IDENTITY"] = e.spiffeID(trustDomain: trustDomain)
        // Where the pod exchanges its bootstrap (or service-account token) for JWT-SVIDs, and renews them.
        if let identityURL { base["TARMAC_IDENTITY_URL"] = identityURL }
        if let gatewayURL { base["TARMAC_GATEWAY_URL"] = gatewayURL }
        if let checkpoint {
            base["TARMAC_CHECKPOINT_URL"] = checkpoint.url
            base["TARMAC_CHECKPOINT_TOKEN"] = checkpoint.token
        }
        if let c = e.lastCheckpoint {
            // Where to resume from: the last checkpoint any attempt reported.
            if let step = c.step { base["TARMAC_RESUME_STEP"] = String(step) }
            if let location = c.location { base["TARMAC_RESUME_FROM"] = location }
        }
        let deadline = w.maxDuration.map { now.addingTimeInterval(Double($0.seconds)) }
        let port = 20000 + e.id.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) % 20000 }
        let kind = Kinds.of(w)
        return e.placements.enumerated().map { i, placement in
            let role = kind.localPod(i, of: e.podCount, port: port)
            var env = base.merging(role.environment) { _, kindValue in kindValue }
            env["CUDA_VISIBLE_DEVICES"] = placement.gpus.map(String.init).joined(separator: ",")
            var launch = PodLaunch(workload: e.id, attempt: e.attempt, pod: i, command: w.command + w.args, environment: env,
                                   memoryLimitBytes: size.memory.bytes, cpuMilli: Int(size.cpu.millis), placement: placement,
                                   deadline: deadline, completionIndices: role.completionIndices, graceSeconds: graceSeconds, workdir: e.workdir)
            launch.identityBootstrap = bootstrap(i)
            return launch
        }
    }
}
