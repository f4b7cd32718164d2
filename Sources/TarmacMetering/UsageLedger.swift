import Foundation
import TarmacCore

/// What transitions add to the durable ledger: each one's GPU-, CPU- and memory-seconds, as rows per workload and UTC
/// day, split across the days of the span they were used over in proportion to the time in each. Pure: the rows a
/// test sums are the ones the store keeps.
public enum UsageLedger {
    /// The rows one transition adds (none when it used nothing).
    public static func rows(for t: Transition) -> [UsageRow] {
        let gpu = max(0, t.gpuSeconds), cpu = max(0, t.cpuSeconds), memory = max(0, t.memoryGiBSeconds ?? 0)
        guard gpu > 0 || cpu > 0 || memory > 0 else { return [] }
        func row(_ day: String, _ share: Double) -> UsageRow {
            UsageRow(day: day, workload: t.workload, name: t.name, team: t.team, env: t.env, kind: t.kind, user: t.user ?? "", model: t.model,
                     accelerator: t.accelerator, gpuSeconds: gpu * share, cpuSeconds: cpu * share, memoryGiBSeconds: memory * share)
        }
        let end = (t.usageUntil ?? t.at).timeIntervalSince1970
        guard let since = t.usageSince?.timeIntervalSince1970, since < end else { return [row(day(end), 1)] }
        var out: [UsageRow] = []
        var from = since
        let total = end - since
        while from < end {
            let next = min(end, (floor(from / 86_400) + 1) * 86_400)
            out.append(row(day(from), (next - from) / total))
            from = next
        }
        // The shares of the last day take what rounding left, so the rows add up to the transition exactly.
        if out.count > 1 {
            let head = out.dropLast()
            out[out.count - 1].gpuSeconds = gpu - head.reduce(0) { $0 + $1.gpuSeconds }
            out[out.count - 1].cpuSeconds = cpu - head.reduce(0) { $0 + $1.cpuSeconds }
            out[out.count - 1].memoryGiBSeconds = memory - head.reduce(0) { $0 + $1.memoryGiBSeconds }
        }
        return out
    }

    /// The rows of many transitions, one per workload and day.
    public static func rows(for ts: [Transition]) -> [UsageRow] {
        var byKey: [String: UsageRow] = [:]
        var order: [String] = []
        for t in ts {
            for r in rows(for: t) {
                if byKey[r.key] == nil { byKey[r.key] = r; order.append(r.key) } else { byKey[r.key]!.add(r) }
            }
        }
        return order.map { byKey[$0]! }
    }

    /// The UTC day of a time (seconds since 1970), `2026-12-07`: civil from days (Howard Hinnant's algorithm).
    public static func day(_ seconds: TimeInterval) -> String {
        let z = Int(floor(seconds / 86_400)) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04d-%02d-%02d", y, m, d)
    }
}
