import TarmacCore
import TarmacModel

/// The ledger's rows summed by the dimensions asked for, priced at the contract's rates. Pure.
public enum UsageReport {
    public enum Dimension: String, Sendable, CaseIterable {
        case team, user, env, kind, workload, model, accelerator, day

        func value(_ r: UsageRow) -> String {
            switch self {
            case .team: r.team
            case .user: r.user
            case .env: r.env
            case .kind: r.kind
            case .workload: "\(r.name) (\(r.workload))"
            case .model: r.model ?? "-"
            case .accelerator: r.accelerator ?? "cpu"
            case .day: r.day
            }
        }
    }

    /// What an hour costs: per accelerator model (a whole device), per CPU core, per GiB of memory.
    public struct Rates: Sendable, Hashable {
        public var acceleratorHour: [String: Double]
        public var cpuCoreHour: Double
        public var memoryGiBHour: Double
        public init(acceleratorHour: [String: Double] = [:], cpuCoreHour: Double = 0, memoryGiBHour: Double = 0) {
            self.acceleratorHour = acceleratorHour
            self.cpuCoreHour = cpuCoreHour
            self.memoryGiBHour = memoryGiBHour
        }

        /// The contract's rates: each accelerator's `hourlyCost`, `costs.cpuCoreHour`, `costs.memoryGiBHour` (unset: 0).
        public init(platform: Platform) {
            self.init(acceleratorHour: platform.accelerators.compactMapValues(\.hourlyCost), cpuCoreHour: platform.costs.cpuCoreHour ?? 0,
                      memoryGiBHour: platform.costs.memoryGiBHour ?? 0)
        }

        public func cost(_ r: UsageRow) -> Double {
            r.gpuSeconds / 3600 * (r.accelerator.flatMap { acceleratorHour[$0] } ?? 0) + r.cpuSeconds / 3600 * cpuCoreHour + r.memoryGiBSeconds / 3600 * memoryGiBHour
        }
    }

    public struct Line: Sendable, Hashable {
        public var keys: [String: String]
        public var gpuSeconds = 0.0, cpuSeconds = 0.0, memoryGiBSeconds = 0.0, cost = 0.0
        public var workloads: Set<String> = []

        mutating func add(_ r: UsageRow, _ rates: Rates) {
            gpuSeconds += r.gpuSeconds
            cpuSeconds += r.cpuSeconds
            memoryGiBSeconds += r.memoryGiBSeconds
            cost += rates.cost(r)
            workloads.insert(r.workload)
        }
    }

    /// Lines by the dimensions' values (most costly first, then by their values), and the total.
    public static func sum(_ rows: [UsageRow], by dimensions: [Dimension], rates: Rates) -> (lines: [Line], total: Line) {
        var lines: [[String]: Line] = [:]
        var total = Line(keys: [:])
        for r in rows {
            let values = dimensions.map { $0.value(r) }
            lines[values, default: Line(keys: Dictionary(uniqueKeysWithValues: zip(dimensions.map(\.rawValue), values)))].add(r, rates)
            total.add(r, rates)
        }
        let sorted = lines.sorted { a, b in
            // Days read in order; everything else by what it cost.
            if dimensions.first == .day, a.key != b.key { return a.key.lexicographicallyPrecedes(b.key) }
            return a.value.cost != b.value.cost ? a.value.cost > b.value.cost : a.key.lexicographicallyPrecedes(b.key)
        }.map(\.value)
        return (sorted, total)
    }
}
