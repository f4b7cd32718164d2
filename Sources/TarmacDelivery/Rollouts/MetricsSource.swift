/// Where a rollout reads what its versions did: the inference gateway in process, or (on a cluster) a Prometheus the
/// contract names. `service` is `TEAM/SERVICE`, `version` the model version as the route names it.
public protocol MetricsSource: Sendable {
    func measure(service: String, version: String, lastSeconds: Double) -> Measurement
}
