import Foundation

/// One reading of one GPU: what NVML (through `nvidia-smi`) or dcgm-exporter says of the device, on its node.
public struct GPUSample: Sendable, Hashable {
    public var node: String
    /// The device's index on its node (what placements name).
    public var gpu: Int
    public var uuid: String?
    /// Percent of the last sample period a kernel ran, 0...100.
    public var utilization: Double
    public var memoryUsedMiB: Double
    public var memoryTotalMiB: Double?
    public var powerWatts: Double?
    /// Why its clocks are held back now, by name (`sw_thermal_slowdown`, `hw_power_brake_slowdown`...); empty: not at all.
    public var throttling: [String]
    /// The pods the exporter says use this GPU (`namespace/name`; dcgm-exporter's `namespace` and `pod` labels, read
    /// from the kubelet's pod-resources), and the workloads they belong to once resolved. Where they are known, the GPU
    /// is attributed to those workloads; otherwise by Tarmac's placements (locally the device index is Tarmac's own).
    public var pods: [String] = []
    public var workloads: [String] = []
    /// Memory each workload's processes use on this GPU, measured (NVML's compute apps, resolved to workloads):
    /// where set, a workload's memory on it is this, not a share of the device's.
    public var memoryByWorkload: [String: Double]?

    public init(node: String, gpu: Int, uuid: String? = nil, utilization: Double, memoryUsedMiB: Double, memoryTotalMiB: Double? = nil, powerWatts: Double? = nil,
                throttling: [String] = []) {
        self.node = node
        self.gpu = gpu
        self.uuid = uuid
        self.utilization = utilization
        self.memoryUsedMiB = memoryUsedMiB
        self.memoryTotalMiB = memoryTotalMiB
        self.powerWatts = powerWatts
        self.throttling = throttling
    }
}

/// Where GPU readings come from: locally one long-running `nvidia-smi` (NVML), on Kubernetes dcgm-exporter's endpoints.
public protocol TelemetrySource: Sendable {
    /// The latest reading of every GPU it sees.
    func latest() async -> [GPUSample]
    /// Keeps reading until the task is cancelled (a source that reads on demand returns at once).
    func run() async
}

extension TelemetrySource {
    public func run() async {}
}

/// NVML's and DCGM's clock event reasons (the bits of `clocks_event_reasons.active` and `DCGM_FI_DEV_CLOCKS_EVENT_REASONS`),
/// by name.
public enum ClockEventReasons {
    public static let names: [(bit: UInt64, name: String)] = [
        (0x1, "gpu_idle"), (0x2, "applications_clocks_setting"), (0x4, "sw_power_cap"), (0x8, "hw_slowdown"), (0x10, "sync_boost"),
        (0x20, "sw_thermal_slowdown"), (0x40, "hw_thermal_slowdown"), (0x80, "hw_power_brake_slowdown"), (0x100, "display_clock_setting"),
    ]

    /// The reasons a bitmask holds, by name; idle is not a throttle and is left out.
    public static func decode(_ mask: UInt64) -> [String] {
        names.filter { mask & $0.bit != 0 && $0.bit != 0x1 }.map(\.name)
    }

    /// `0x0000000000000020`, `32`: the mask as nvidia-smi or dcgm-exporter print it.
    public static func mask(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.lowercased().hasPrefix("0x") { return UInt64(t.dropFirst(2), radix: 16) }
        if let d = Double(t), d >= 0, d < 1.8e19 { return UInt64(d) }
        return nil
    }
}
