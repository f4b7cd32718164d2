import Foundation
import TarmacModel

/// Judges which workloads' GPUs idle, from the GPU utilization attributed to each (telemetry), by the contract's idle
/// policy of the workload's class and environment. A struct over the times it is given (no clock, no I/O): the same
/// readings at the same times give the same verdicts, so a test drives it on a test clock.
///
/// A workload under `gpuUtilizationBelow` for `for` is noticed (its team is told, with the evidence); if it stays under
/// for `grace` more, the policy's action follows, once. A reading at or above the threshold clears it. Readings further
/// apart than `maxGap` (telemetry stopped, the workload restarted) start the watch again: only an unbroken run of low
/// readings counts.
public struct IdleJudge: Sendable {
    /// One workload's attributed GPU utilization at one time, with the policy that applies to it.
    public struct Reading: Sendable {
        public var workload: String
        public var utilization: Double
        public var policy: IdlePolicy
        public init(workload: String, utilization: Double, policy: IdlePolicy) {
            self.workload = workload
            self.utilization = utilization
            self.policy = policy
        }
    }

    /// What the utilization did over the run that led to a verdict: the audit record keeps it.
    public struct Evidence: Sendable, Hashable, Codable {
        public var threshold: Double
        public var since: Date
        public var samples: Int
        public var mean: Double
        public var max: Double
        /// Means over equal slices of the run, oldest first (at most 12): the series that triggered it.
        public var series: [Double]

        /// `GPU utilization under 5% since 10:02:00Z (1800 readings): mean 1.2%, max 3.9%; series 1.0 1.3 ...`
        public var summary: String {
            let f = ISO8601DateFormatter()
            return "GPU utilization under \(Self.number(threshold))% since \(f.string(from: since)) (\(samples) readings): mean \(Self.number(mean))%, max \(Self.number(max))%; "
                + "series \(series.map(Self.number).joined(separator: " "))"
        }

        static func number(_ v: Double) -> String { String(format: "%.1f", v) }
    }

    public enum Verdict: Sendable, Hashable {
        /// Under the threshold for the policy's `for`: tell the team; `actAt` is when the action follows (nil: notify only).
        case notice(workload: String, evidence: Evidence, actAt: Date?)
        /// Still under it after the grace period: do the policy's action.
        case act(workload: String, action: IdlePolicy.Action, evidence: Evidence)
        /// Used again after a notice: the notice no longer holds.
        case cleared(workload: String, utilization: Double)
    }

    struct Watch: Sendable {
        var since: Date
        var last: Date
        var readings: [(at: Date, value: Double)] = []
        var count = 0
        var noticedAt: Date?
        var acted = false
    }

    var watches: [String: Watch] = [:]
    /// The longest wait between two readings that still counts as one run.
    public var maxGap: TimeInterval
    /// Readings kept per workload (older ones are folded away evenly): bounds memory whatever `for` is.
    public var keep: Int

    public init(maxGap: TimeInterval = 120, keep: Int = 720) {
        self.maxGap = maxGap
        self.keep = keep
    }

    /// Workloads watched now (under the threshold, noticed or not).
    public var watching: Set<String> { Set(watches.keys) }

    /// Takes the readings of one sample (every workload holding GPUs that has a policy) and says what changed.
    /// A workload absent from `readings` is no longer watched (it ended, or holds no GPU).
    public mutating func observe(_ readings: [Reading], at now: Date) -> [Verdict] {
        var out: [Verdict] = []
        var seen: Set<String> = []
        for r in readings {
            seen.insert(r.workload)
            let p = r.policy
            guard r.utilization < p.gpuUtilizationBelow else {
                if let w = watches.removeValue(forKey: r.workload), w.noticedAt != nil {
                    out.append(.cleared(workload: r.workload, utilization: r.utilization))
                }
                continue
            }
            var w = watches[r.workload] ?? Watch(since: now, last: now)
            if now.timeIntervalSince(w.last) > maxGap {
                // A break in the readings: the run starts again (a notice given stays given, its action waits anew).
                let noticed = w.noticedAt
                w = Watch(since: now, last: now)
                w.noticedAt = noticed.map { _ in now }
            }
            w.last = now
            w.readings.append((now, r.utilization))
            w.count += 1
            if w.readings.count > keep { w.readings = stride(from: 0, to: w.readings.count, by: 2).map { w.readings[$0] } }
            if w.noticedAt == nil, now.timeIntervalSince(w.since) >= Double(p.duration.seconds) {
                w.noticedAt = now
                out.append(.notice(workload: r.workload, evidence: evidence(w, threshold: p.gpuUtilizationBelow),
                                   actAt: p.action == .notify ? nil : now.addingTimeInterval(Double(p.grace.seconds))))
            } else if let noticed = w.noticedAt, !w.acted, p.action != .notify, now.timeIntervalSince(noticed) >= Double(p.grace.seconds) {
                w.acted = true
                out.append(.act(workload: r.workload, action: p.action, evidence: evidence(w, threshold: p.gpuUtilizationBelow)))
            }
            watches[r.workload] = w
        }
        for gone in Set(watches.keys).subtracting(seen) { watches[gone] = nil }
        return out
    }

    func evidence(_ w: Watch, threshold: Double) -> Evidence {
        let values = w.readings.map(\.value)
        let slices = min(12, values.count)
        var series: [Double] = []
        for i in 0..<slices {
            let part = values[(i * values.count / slices)..<((i + 1) * values.count / slices)]
            series.append(part.reduce(0, +) / Double(Swift.max(1, part.count)))
        }
        return Evidence(threshold: threshold, since: w.since, samples: w.count, mean: values.reduce(0, +) / Double(Swift.max(1, values.count)),
                        max: values.max() ?? 0, series: series)
    }
}
