import Metrics
import Synchronization
import TarmacDelivery

/// The inference gateway's exported metrics, per team, service, model and version, named close to vLLM's and the
/// Gateway API Inference Extension's:
/// - `tarmac_inference_requests_total{code}`: requests answered, by HTTP status (the gateway's own 429/502/503 included);
/// - `tarmac_inference_request_duration_seconds`: time from the request to the end of its answer (a histogram);
/// - `tarmac_inference_time_to_first_token_seconds`: for streamed answers, time to the first part;
/// - `tarmac_inference_requests_in_flight`: requests being answered (the queue depth the load shedding limits);
/// - `tarmac_inference_prompt_tokens_total`, `tarmac_inference_completion_tokens_total`: from OpenAI-compatible `usage`;
/// - `tarmac_inference_errors_total{side, reason}`: failed requests by side (`model`, `infrastructure`) and cause
///   (`ServingFault`); those that failed before a version was chosen carry team and service only.
/// Each metric is made once per label set (the factory's registry lookup is not paid per request).
final class InferenceMetrics: Sendable {
    struct Labels: Hashable {
        var team: String
        var service: String
        var model: String
        var version: String
        var dimensions: [(String, String)] { [("team", team), ("service", service), ("model", model), ("version", version)] }
    }

    struct Made {
        var duration: Timer
        var ttft: Timer
        var inFlight: Gauge
        var prompt: Counter
        var completion: Counter
        var codes: [Int: Counter] = [:]
        var inFlightCount = 0
    }

    private let made = Mutex<[Labels: Made]>([:])
    private let refusals = Mutex<[String: Counter]>([:])
    private let faults = Mutex<[String: Counter]>([:])

    /// One failed request, by its cause; `labels` nil when no version was chosen.
    func failed(_ labels: Labels?, team: String, service: String, _ fault: ServingFault) {
        let base = labels?.dimensions ?? [("team", team), ("service", service)]
        let dims = base + [("side", fault.side.rawValue), ("reason", fault.rawValue)]
        let key = dims.map { $0.1 }.joined(separator: "\u{1F}")
        let c = faults.withLock { f in
            if let c = f[key] { return c }
            let c = Counter(label: "tarmac_inference_errors_total", dimensions: dims)
            f[key] = c
            return c
        }
        c.increment()
    }

    private func with<T>(_ l: Labels, _ body: (inout Made) -> T) -> T {
        made.withLock { m in
            if m[l] == nil {
                let d = l.dimensions
                m[l] = Made(duration: Timer(label: "tarmac_inference_request_duration_seconds", dimensions: d),
                            ttft: Timer(label: "tarmac_inference_time_to_first_token_seconds", dimensions: d),
                            inFlight: Gauge(label: "tarmac_inference_requests_in_flight", dimensions: d),
                            prompt: Counter(label: "tarmac_inference_prompt_tokens_total", dimensions: d),
                            completion: Counter(label: "tarmac_inference_completion_tokens_total", dimensions: d))
            }
            return body(&m[l]!)
        }
    }

    func started(_ l: Labels) {
        let (g, n) = with(l) { m -> (Gauge, Int) in
            m.inFlightCount += 1
            return (m.inFlight, m.inFlightCount)
        }
        g.record(n)
    }

    func answered(_ l: Labels, status: Int, seconds: Double, ttftSeconds: Double?, promptTokens: Int?, completionTokens: Int?) {
        let (counter, duration, ttft, gauge, n, prompt, completion) = with(l) { m in
            if m.codes[status] == nil {
                m.codes[status] = Counter(label: "tarmac_inference_requests_total", dimensions: l.dimensions + [("code", String(status))])
            }
            m.inFlightCount = max(0, m.inFlightCount - 1)
            return (m.codes[status]!, m.duration, m.ttft, m.inFlight, m.inFlightCount, m.prompt, m.completion)
        }
        counter.increment()
        duration.recordNanoseconds(Int64(seconds * 1e9))
        if let t = ttftSeconds { ttft.recordNanoseconds(Int64(t * 1e9)) }
        gauge.record(n)
        if let p = promptTokens, p > 0 { prompt.increment(by: p) }
        if let c = completionTokens, c > 0 { completion.increment(by: c) }
    }

    /// A request refused before it reached a version (no token, not allowed, overloaded, no replica): counted with the
    /// team, the service and the code only.
    func refused(team: String, service: String, status: Int) {
        let key = "\(team)/\(service)/\(status)"
        let c = refusals.withLock { r in
            if let c = r[key] { return c }
            let c = Counter(label: "tarmac_inference_requests_total", dimensions: [("team", team), ("service", service), ("code", String(status))])
            r[key] = c
            return c
        }
        c.increment()
    }
}
