import Foundation

/// `GET /v1/telemetry`: the last GPU readings, given to the workloads holding each GPU (by share).
public struct TelemetryView: Codable, Sendable, Hashable {
    public var at: Date?
    public var workloads: [WorkloadTelemetryView]
    /// Every device's reading (admins and auditors only: it shows other teams' work).
    public var devices: [DeviceTelemetryView]?
    public init(at: Date?, workloads: [WorkloadTelemetryView], devices: [DeviceTelemetryView]?) {
        self.at = at
        self.workloads = workloads
        self.devices = devices
    }
}

public struct WorkloadTelemetryView: Codable, Sendable, Hashable {
    public var workload: String
    public var name: String
    public var team: String
    public var env: String
    public var kind: String
    /// GPUs it holds (shares: 0.5 is half a GPU).
    public var gpus: Double
    /// Utilization points its share accounts for, summed over its GPUs.
    public var utilization: Double
    public var memoryUsedMiB: Double
    /// Why its GPUs' clocks are held back, by name.
    public var throttling: [String]
    public init(workload: String, name: String, team: String, env: String, kind: String, gpus: Double, utilization: Double, memoryUsedMiB: Double, throttling: [String]) {
        self.workload = workload
        self.name = name
        self.team = team
        self.env = env
        self.kind = kind
        self.gpus = gpus
        self.utilization = utilization
        self.memoryUsedMiB = memoryUsedMiB
        self.throttling = throttling
    }
}

public struct DeviceTelemetryView: Codable, Sendable, Hashable {
    public var node: String
    public var gpu: Int
    public var utilization: Double
    public var memoryUsedMiB: Double
    public var memoryTotalMiB: Double?
    public var powerWatts: Double?
    public var throttling: [String]
    public init(node: String, gpu: Int, utilization: Double, memoryUsedMiB: Double, memoryTotalMiB: Double?, powerWatts: Double?, throttling: [String]) {
        self.node = node
        self.gpu = gpu
        self.utilization = utilization
        self.memoryUsedMiB = memoryUsedMiB
        self.memoryTotalMiB = memoryTotalMiB
        self.powerWatts = powerWatts
        self.throttling = throttling
    }
}

extension WorkloadTelemetryView {
    /// `64% utilization, 2048 MiB used, throttled: sw_thermal_slowdown`.
    public var summary: String {
        "\(Int(utilization.rounded()))% utilization, \(Int(memoryUsedMiB.rounded())) MiB used"
            + (throttling.isEmpty ? "" : ", throttled: \(throttling.joined(separator: ", "))")
    }
}
