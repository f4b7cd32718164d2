import TarmacModel

/// What controllers beside the control plane (the credential controller) may ask it about workloads: the platform in
/// force, the agents it runs, which attempts are live and which pod a presented credential belongs to. The control
/// plane conforms; a controller depends on this seam, not on the control plane.
public protocol WorkloadDirectory: Sendable {
    /// The platform of the contract in force.
    var platform: Platform { get }
    /// The workload and pod a bootstrap credential belongs to, when it is genuine and its attempt holds capacity.
    func attest(bootstrap secret: String) async -> (entry: WorkloadEntry, pod: Int)?
    /// The workload and pod a Kubernetes service-account token belongs to, when the backend attests it and its attempt
    /// is the workload's current one and holds capacity.
    func attest(serviceAccountToken token: String) async -> (entry: WorkloadEntry, pod: String)?
    /// The workload's entry when `attempt` is its current attempt and holds capacity.
    func liveEntry(_ workload: String, attempt: Int) async -> WorkloadEntry?
    /// An agent's `tools` and `onBehalfOf`, while its plan is known (until it ends), with its entry.
    func agent(_ workload: String) async -> (entry: WorkloadEntry, details: AgentDetails)?
    /// Workloads that have not ended, with their current attempt and whether it holds capacity.
    func liveAttempts() async -> [(entry: WorkloadEntry, holding: Bool)]
}
