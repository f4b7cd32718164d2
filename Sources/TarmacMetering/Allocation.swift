import Foundation
import TarmacAPI
import TarmacCore

/// The ledger in OpenCost's `/allocation` shape, so dashboards and scripts written for OpenCost read Tarmac: one set
/// over the window, allocations by the aggregate asked for, each with its core-, GPU- and byte-hours and their cost,
/// and (with `includeIdle`) an `__idle__` allocation: what the nodes offered over the window and nothing held. Pure.
public enum Allocation {
    /// A window of whole UTC days: `today`, `yesterday`, `week` (the last 7 days), `month` (this month), `lastmonth`,
    /// `Nd`, `Nh` (the days it touches), or `START,END` (RFC 3339 times or days); its end is never after `now`.
    public struct Window: Sendable, Hashable {
        public var start: Date
        public var end: Date
        public var firstDay: String { UsageLedger.day(start.timeIntervalSince1970) }
        /// The day after the last one (exclusive).
        public var endDay: String { UsageLedger.day(end.timeIntervalSince1970 - 0.001 + 86_400) }
        public var hours: Double { max(0, end.timeIntervalSince(start)) / 3600 }

        public static func parse(_ text: String, now: Date) -> Window? {
            let day = 86_400.0
            let today = floor(now.timeIntervalSince1970 / day) * day
            func at(_ s: Double) -> Date { Date(timeIntervalSince1970: s) }
            switch text {
            case "today": return Window(start: at(today), end: now)
            case "yesterday": return Window(start: at(today - day), end: at(today))
            case "week": return Window(start: at(today - 6 * day), end: now)
            case "month": return Window(start: BudgetStatus.month(of: now).start, end: now)
            case "lastmonth":
                let this = BudgetStatus.month(of: now).start
                return Window(start: BudgetStatus.month(of: this.addingTimeInterval(-1)).start, end: this)
            default: break
            }
            if let n = Int(text.dropLast()), n > 0, n <= 3660 {
                if text.hasSuffix("d") { return Window(start: at(today - Double(n - 1) * day), end: now) }
                if text.hasSuffix("h") { return Window(start: at(floor((now.timeIntervalSince1970 - Double(n) * 3600) / day) * day), end: now) }
            }
            let parts = text.split(separator: ",").map(String.init)
            guard parts.count == 2, let a = time(parts[0]), let b = time(parts[1]), a < b else { return nil }
            return Window(start: at(floor(a.timeIntervalSince1970 / day) * day), end: min(now, at(ceil(b.timeIntervalSince1970 / day) * day)))
        }

        static func time(_ s: String) -> Date? {
            if let d = ISO8601DateFormatter().date(from: s) { return d }
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withFullDate]
            return f.date(from: s)
        }
    }

    /// What the nodes offer, summed: GPUs by accelerator model, CPU cores, memory GiB.
    public struct Capacity: Sendable, Hashable {
        public var gpus: [String: Double]
        public var cpuCores: Double
        public var memoryGiB: Double
        public init(gpus: [String: Double], cpuCores: Double, memoryGiB: Double) {
            self.gpus = gpus
            self.cpuCores = cpuCores
            self.memoryGiB = memoryGiB
        }
    }

    /// OpenCost's aggregate names mapped onto the ledger: `namespace` (TEAM-ENV), `controller` and `pod` (the
    /// workload), `controllerKind`, `cluster`, `label:team|user|env|model|accelerator`, and Tarmac's own dimensions.
    public static func key(_ r: UsageRow, _ aggregate: String) -> String? {
        switch aggregate {
        case "namespace": "\(r.team)-\(r.env)"
        case "controller", "pod", "workload": r.name
        case "controllerKind", "kind": r.kind
        case "cluster": "tarmac"
        case "team", "label:team": r.team
        case "user", "label:user": r.user
        case "env", "label:env": r.env
        case "model", "label:model": r.model ?? "__unallocated__"
        case "accelerator", "label:accelerator": r.accelerator ?? "cpu"
        default: nil
        }
    }

    public static let aggregates = ["namespace", "controller", "controllerKind", "pod", "cluster", "team", "user", "env", "kind", "workload", "model", "accelerator",
                                    "label:team", "label:user", "label:env", "label:model", "label:accelerator"]

    /// The set: allocations by name (aggregates joined with `/`), as OpenCost's `data[0]`.
    public static func set(_ rows: [UsageRow], window: Window, aggregate: [String], rates: UsageReport.Rates, idle capacity: Capacity?) -> [String: AllocationView] {
        var sums: [String: (gpu: Double, cpu: Double, mem: Double, gpuCost: Double, cpuCost: Double, ramCost: Double, props: [String: String])] = [:]
        for r in rows where r.day >= window.firstDay && r.day < window.endDay {
            let name = aggregate.map { key(r, $0) ?? "" }.joined(separator: "/")
            var s = sums[name] ?? (0, 0, 0, 0, 0, 0, ["namespace": "\(r.team)-\(r.env)", "cluster": "tarmac"])
            s.gpu += r.gpuSeconds / 3600
            s.cpu += r.cpuSeconds / 3600
            s.mem += r.memoryGiBSeconds / 3600
            s.gpuCost += r.gpuSeconds / 3600 * (r.accelerator.flatMap { rates.acceleratorHour[$0] } ?? 0)
            s.cpuCost += r.cpuSeconds / 3600 * rates.cpuCoreHour
            s.ramCost += r.memoryGiBSeconds / 3600 * rates.memoryGiBHour
            if s.props["namespace"] != "\(r.team)-\(r.env)" { s.props["namespace"] = nil }
            sums[name] = s
        }
        var out: [String: AllocationView] = [:]
        let hours = window.hours
        for (name, s) in sums {
            out[name] = entry(name, window: window, gpu: s.gpu, cpu: s.cpu, mem: s.mem, gpuCost: s.gpuCost, cpuCost: s.cpuCost, ramCost: s.ramCost, properties: s.props)
        }
        if let c = capacity, hours > 0 {
            // Idle: what the nodes offered over the window, less what was held (never below 0: the nodes of today stand
            // for the whole window).
            let heldGPU = rows.filter { $0.day >= window.firstDay && $0.day < window.endDay }
            var gpuByModel: [String: Double] = [:]
            for r in heldGPU { if let a = r.accelerator { gpuByModel[a, default: 0] += r.gpuSeconds / 3600 } }
            var gpu = 0.0, gpuCost = 0.0
            for (model, n) in c.gpus {
                let free = max(0, n * hours - (gpuByModel[model] ?? 0))
                gpu += free
                gpuCost += free * (rates.acceleratorHour[model] ?? 0)
            }
            let cpu = max(0, c.cpuCores * hours - sums.values.reduce(0) { $0 + $1.cpu })
            let mem = max(0, c.memoryGiB * hours - sums.values.reduce(0) { $0 + $1.mem })
            out["__idle__"] = entry("__idle__", window: window, gpu: gpu, cpu: cpu, mem: mem, gpuCost: gpuCost, cpuCost: cpu * rates.cpuCoreHour,
                                    ramCost: mem * rates.memoryGiBHour, properties: ["cluster": "tarmac"])
        }
        return out
    }

    static func entry(_ name: String, window: Window, gpu: Double, cpu: Double, mem: Double, gpuCost: Double, cpuCost: Double, ramCost: Double,
                      properties: [String: String]) -> AllocationView {
        AllocationView(name: name, properties: properties, start: window.start, end: window.end, cpuCoreHours: cpu, cpuCost: cpuCost, gpuHours: gpu,
                       gpuCost: gpuCost, ramByteHours: mem * 1_073_741_824, ramCost: ramCost)
    }
}
