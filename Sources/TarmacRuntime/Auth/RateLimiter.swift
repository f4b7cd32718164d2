import Foundation
import Synchronization

/// A token bucket per key (an API token, an agent, a person): `rate` requests per second on average, bursts up to `burst`.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    let rate: Double
    let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// Takes one request from the bucket; returns nil when allowed, or the seconds to wait.
    public func take(_ key: String) -> Double? {
        guard rate > 0 else { return nil }
        let now = ContinuousClock.now
        return buckets.withLock { b in
            var bucket = b[key] ?? Bucket(tokens: burst, last: now)
            let elapsed = now - bucket.last
            bucket.tokens = min(burst, bucket.tokens + (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * rate)
            bucket.last = now
            defer { b[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}
