/// Where a rollout reads what its versions did: the inference gateway in process, or (on a cluster) a Prometheus the
/// contract names. `service` is `TEAM/SERVICE`, `version` the model version as the route names it.
public protocol MetricsSource: Sendable {
    func measure(service: String, version: String, lastSeconds: Double) async -> Measurement
    /// A service's failed requests over the last `lastSeconds`, by cause (all versions, and those refused before a
    /// version was chosen). Empty where the source cannot tell.
    func faults(service: String, lastSeconds: Double) -> [ServingFault: Int]
    /// The cause of a service's latest failed request, if any: what is going wrong now.
    func latestFault(service: String) -> ServingFault?
}

extension MetricsSource {
    public func faults(service: String, lastSeconds: Double) -> [ServingFault: Int] { [:] }
    public func latestFault(service: String) -> ServingFault? { nil }
}
