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
        /// What inference services served through the gateway: tokens, answers, model loads and their seconds.
        public var promptTokens: Int64 = 0, completionTokens: Int64 = 0, requests: Int64 = 0, modelLoads: Int64 = 0
        public var modelLoadSeconds = 0.0

        mutating func add(_ r: UsageRow, _ rates: Rates) {
            gpuSeconds += r.gpuSeconds
            cpuSeconds += r.cpuSeconds
            memoryGiBSeconds += r.memoryGiBSeconds
            cost += rates.cost(r)
            workloads.insert(r.workload)
            promptTokens += r.promptTokens
            completionTokens += r.completionTokens
            requests += r.requests
            modelLoads += r.modelLoads
            modelLoadSeconds += r.modelLoadSeconds
        }

        /// Cost per thousand tokens served (nil: none served).
        public var costPer1kTokens: Double? {
            let tokens = promptTokens + completionTokens
            return tokens > 0 ? cost / Double(tokens) * 1000 : nil
        }
    }

    /// How `/v1/inferenceCost/total` names its lines.
    public enum InferenceAggregate: String, Sendable, CaseIterable {
        case service, team, model, workload
    }

    /// The InferenceServices' rows summed by service (`team/name`), team, model or workload: tokens, answers, model
    /// loads and what the services cost.
    public static func inference(_ rows: [UsageRow], by aggregate: InferenceAggregate, rates: Rates) -> [String: Line] {
        var lines: [String: Line] = [:]
        for r in rows where r.kind == "InferenceService" {
            let name = switch aggregate {
            case .service: "\(r.team)/\(r.name)"
            case .team: r.team
            case .model: r.model ?? "-"
            case .workload: "\(r.name) (\(r.workload))"
            }
            lines[name, default: Line(keys: [aggregate.rawValue: name])].add(r, rates)
        }
        return lines
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
