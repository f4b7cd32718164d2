import Foundation
import TarmacCore
import TarmacModel

/// What the credential controller asks of the control plane: the one-time bootstrap credential of each pod (local
/// attestation), and which attempt of a workload is live.
extension ControlPlane {
    /// The pod's one-time identity bootstrap: `tib_WORKLOAD.ATTEMPT.POD.MAC`, the MAC derived from the control plane's
    /// credential key (never stored). The local backend hands it to the pod in a file only the pod can read.
    public nonisolated func identityBootstrap(workload: String, attempt: Int, pod: Int) -> String {
        "tib_\(workload).\(attempt).\(pod)." + bootstrapMAC(workload: workload, attempt: attempt, pod: pod)
    }

    nonisolated func bootstrapMAC(workload: String, attempt: Int, pod: Int) -> String {
        credentialMAC("identity-bootstrap", workload, String(attempt), String(pod))
    }

    /// The workload and pod a bootstrap credential belongs to, when it is genuine and its attempt holds capacity.
    /// (That it is used only once is the credential controller's to check.)
    public func attest(bootstrap secret: String) -> (entry: WorkloadEntry, pod: Int)? {
        guard secret.hasPrefix("tib_"), secret.utf8.count < 300 else { return nil }
        let parts = secret.dropFirst(4).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, let attempt = Int(parts[1]), let pod = Int(parts[2]) else { return nil }
        let workload = String(parts[0])
        guard Self.sameCredential(parts[3], bootstrapMAC(workload: workload, attempt: attempt, pod: pod)) else { return nil }
        guard let e = tracked[workload]?.entry, e.attempt == attempt, e.state.holdsCapacity, pod >= 0, pod < max(1, e.podCount) else { return nil }
        return (e, pod)
    }

    /// The workload and pod a Kubernetes service-account token belongs to, when the backend attests it and its attempt
    /// is the workload's current one and holds capacity.
    public func attest(serviceAccountToken token: String) async -> (entry: WorkloadEntry, pod: String)? {
        guard token.utf8.count < 16 << 10, let a = await backend.attest(serviceAccountToken: token),
              let e = tracked[a.workload]?.entry, e.attempt == a.attempt, e.state.holdsCapacity else { return nil }
        return (e, a.pod)
    }

    /// The workload's entry when `attempt` is its current attempt and holds capacity.
    public func liveEntry(_ workload: String, attempt: Int) -> WorkloadEntry? {
        guard let e = tracked[workload]?.entry, e.attempt == attempt, e.state.holdsCapacity else { return nil }
        return e
    }

    /// An agent's `tools` and `onBehalfOf`, while its plan is known (until it ends), with its entry.
    public func agent(_ workload: String) -> (entry: WorkloadEntry, details: AgentDetails)? {
        guard let t = tracked[workload], case .agent(let d)? = t.plan?.workload.details else { return nil }
        return (t.entry, d)
    }

    /// Workloads that have not ended, with their current attempt and whether it holds capacity.
    public func liveAttempts() -> [(entry: WorkloadEntry, holding: Bool)] {
        tracked.live.compactMap { id in tracked[id].map { ($0.entry, $0.entry.state.holdsCapacity) } }
    }
}

extension ControlPlane: WorkloadDirectory {
    public nonisolated var platform: Platform { contract.platform }
}
