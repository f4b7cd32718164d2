import Metrics

/// The GPU gauges of `/metrics`, their handles kept per workload and device (made once, not looked up in the metrics
/// factory at every sample): `tarmac_gpu_utilization`, `tarmac_gpu_memory_used_mib`, `tarmac_gpu_throttled{reason}`
/// (labels team, env, workload, kind) and `tarmac_gpu_device_utilization{node,gpu}`. A throttle gauge is written when
/// it changes.
public struct GPUGauges: Sendable {
    struct Workload {
        var utilization: Gauge
        var memory: Gauge
        var throttled: [String: Gauge]
        var lastThrottling: Set<String>?
    }

    private var workloads: [String: Workload] = [:]
    private var devices: [String: Gauge] = [:]
    static let reasons = ClockEventReasons.names.map(\.name).filter { $0 != "gpu_idle" }

    public init() {}

    public mutating func record(_ id: String, labels: @autoclosure () -> [(String, String)], _ u: GPUAttribution.Usage) {
        if workloads[id] == nil {
            let l = labels()
            workloads[id] = Workload(utilization: Gauge(label: "tarmac_gpu_utilization", dimensions: l), memory: Gauge(label: "tarmac_gpu_memory_used_mib", dimensions: l),
                                     throttled: Dictionary(uniqueKeysWithValues: Self.reasons.map { ($0, Gauge(label: "tarmac_gpu_throttled", dimensions: l + [("reason", $0)])) }))
        }
        workloads[id]!.utilization.record(u.utilization)
        workloads[id]!.memory.record(u.memoryUsedMiB)
        if workloads[id]!.lastThrottling != u.throttling {
            for (reason, g) in workloads[id]!.throttled { g.record(u.throttling.contains(reason) ? 1 : 0) }
            workloads[id]!.lastThrottling = u.throttling
        }
    }

    public mutating func device(_ s: GPUSample) {
        let key = "\(s.node)/\(s.gpu)"
        if devices[key] == nil { devices[key] = Gauge(label: "tarmac_gpu_device_utilization", dimensions: [("node", s.node), ("gpu", String(s.gpu))]) }
        devices[key]!.record(s.utilization)
    }

    /// Workloads no longer holding GPUs: their handles are let go (their series keep their last value, as gauges do).
    public mutating func keep(only ids: Set<String>) {
        for id in workloads.keys where !ids.contains(id) { workloads[id] = nil }
    }
}
