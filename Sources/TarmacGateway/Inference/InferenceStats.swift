import Synchronization
import TarmacDelivery

/// What the gateway saw of each version of each service, kept for a while so that a rollout can measure the window it
/// asks for: each answered request's time, status, latency and time to first token. Bounded per version (the oldest
/// samples go first); an analysis window longer than what is kept measures what is kept.
public final class InferenceStats: MetricsSource {
    public struct Sample: Sendable, Hashable {
        /// Seconds on the gateway's monotonic clock.
        public var at: Double
        public var status: Int
        public var latencyMs: Double
        public var ttftMs: Double?
        /// Why it failed, when it did (a 5xx the gateway could tell the side of).
        public var fault: ServingFault?
    }

    struct Series {
        var samples: [Sample] = []
        var start = 0
        var total = 0
        var byStatusClass: [Int: Int] = [:]

        mutating func add(_ s: Sample, capacity: Int) {
            total += 1
            byStatusClass[s.status / 100, default: 0] += 1
            if samples.count < capacity { samples.append(s) } else {
                samples[start] = s
                start = (start + 1) % capacity
            }
        }

        func since(_ t: Double) -> [Sample] {
            (samples[start...] + samples[..<start]).filter { $0.at >= t }
        }
    }

    private let series = Mutex<[String: Series]>([:])
    private let faultCounts = Mutex<[String: [ServingFault: Int]]>([:])
    /// Each service's failures with their time, the newest `capacity` kept.
    private let faultLog = Mutex<[String: [(at: Double, fault: ServingFault)]]>([:])
    let capacity: Int
    let origin = ContinuousClock.now

    public init(capacity: Int = 200_000) { self.capacity = capacity }

    /// Now, in the samples' seconds.
    public var now: Double {
        let d = ContinuousClock.now - origin
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func key(_ service: String, _ version: String) -> String { service + "#" + version }

    public func record(service: String, version: String, status: Int, latencyMs: Double, ttftMs: Double?, fault: ServingFault? = nil) {
        let s = Sample(at: now, status: status, latencyMs: latencyMs, ttftMs: ttftMs, fault: fault)
        let cap = capacity
        series.withLock { $0[Self.key(service, version), default: Series()].add(s, capacity: cap) }
        if let fault { counted(service: service, fault) }
    }

    /// A failure of a service, before or after a version was chosen, by its cause.
    func counted(service: String, _ fault: ServingFault) {
        faultCounts.withLock { $0[service, default: [:]][fault, default: 0] += 1 }
        let at = now, cap = capacity
        faultLog.withLock { log in
            log[service, default: []].append((at, fault))
            if log[service]!.count > cap { log[service]!.removeFirst(log[service]!.count - cap) }
        }
    }

    public func latestFault(service: String) -> ServingFault? { faultLog.withLock { $0[service]?.last?.fault } }

    public func faults(service: String, lastSeconds seconds: Double) -> [ServingFault: Int] {
        let from = now - seconds
        return faultLog.withLock { log in
            (log[service] ?? []).filter { $0.at >= from }.reduce(into: [:]) { $0[$1.fault, default: 0] += 1 }
        }
    }

    /// Failed requests of a service since the gateway started, by cause (`TEAM/SERVICE`).
    public func faults(service: String) -> [ServingFault: Int] { faultCounts.withLock { $0[service] ?? [:] } }

    /// Requests answered by a version since the gateway started.
    public func total(service: String, version: String) -> Int { series.withLock { $0[Self.key(service, version)]?.total ?? 0 } }

    /// A version's measurement over the last `seconds`: requests, share answered without a 5xx, p99 latency, p99 time to
    /// first token of streamed answers.
    public func measure(service: String, version: String, lastSeconds seconds: Double) -> Measurement {
        let from = now - seconds
        let samples = series.withLock { $0[Self.key(service, version)]?.since(from) ?? [] }
        return Self.measurement(samples)
    }

    public static func measurement(_ samples: [Sample]) -> Measurement {
        guard !samples.isEmpty else { return Measurement(requests: 0, successRate: 1, p99LatencyMs: 0) }
        let ok = samples.filter { $0.status < 500 }.count
        let ttfts = samples.compactMap(\.ttftMs)
        let failed = samples.filter { $0.status >= 500 }
        let model = failed.filter { $0.fault?.side == .model }.count
        return Measurement(requests: samples.count, successRate: Double(ok) / Double(samples.count), p99LatencyMs: percentile(samples.map(\.latencyMs), 0.99),
                           timeToFirstTokenMs: ttfts.isEmpty ? nil : percentile(ttfts, 0.99), modelErrors: model, infrastructureErrors: failed.count - model)
    }

    /// The nearest-rank percentile.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}
