import Synchronization

/// A token bucket per key (an API token, an agent, a person): `rate` requests per second on average, bursts up to
/// `burst`. Time comes from the clock it is given (a monotonic one in service, a manual one in tests).
public final class RateLimiter<C: Clock>: Sendable where C.Duration == Duration, C: Sendable {
    struct Bucket {
        var tokens: Double
        var last: C.Instant
    }

    let rate: Double
    let burst: Double
    let clock: C
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(rate: Double, burst: Double, clock: C) {
        self.rate = rate
        self.burst = burst
        self.clock = clock
    }

    /// Takes one request from the bucket; returns nil when allowed, or the seconds to wait.
    public func take(_ key: String) -> Double? {
        guard rate > 0 else { return nil }
        let now = clock.now
        return buckets.withLock { b in
            var bucket = b[key] ?? Bucket(tokens: burst, last: now)
            let elapsed = bucket.last.duration(to: now)
            bucket.tokens = min(burst, bucket.tokens + elapsed.seconds * rate)
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

extension RateLimiter where C == ContinuousClock {
    /// A limiter on the machine's monotonic clock.
    public convenience init(rate: Double, burst: Double) { self.init(rate: rate, burst: burst, clock: ContinuousClock()) }
}
