import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import TarmacDelivery

/// A rollout's figures read from a Prometheus (the contract's `metrics.prometheus`): one instant PromQL query per
/// measure over the analysis window, through its HTTP API. The default queries read Tarmac's own inference gateway
/// metrics as that Prometheus scrapes them; the contract may give others (another gateway's metric names), with
/// `$team`, `$service`, `$version`, `$namespace` and `$window` filled in. A query that fails or finds nothing counts as
/// no requests, so the analysis measures again (and the failure is logged).
public struct PrometheusSource: MetricsSource {
    public let url: String
    let queries: [String: String]
    let client: HTTPClient
    let logger: Logger

    public static let defaultQueries: [String: String] = [
        "requests": #"sum(increase(tarmac_inference_requests_total{team="$team",service="$service",version="$version"}[$window]))"#,
        "errors": #"sum(increase(tarmac_inference_requests_total{team="$team",service="$service",version="$version",code=~"5.."}[$window]))"#,
        "modelErrors": #"sum(increase(tarmac_inference_errors_total{team="$team",service="$service",version="$version",side="model"}[$window]))"#,
        "p99LatencyMs": #"1000 * histogram_quantile(0.99, sum by (le) (rate(tarmac_inference_request_duration_seconds_bucket{team="$team",service="$service",version="$version"}[$window])))"#,
        "ttftMs": #"1000 * histogram_quantile(0.99, sum by (le) (rate(tarmac_inference_time_to_first_token_seconds_bucket{team="$team",service="$service",version="$version"}[$window])))"#,
    ]

    public init(url: String, queries: [String: String] = [:], client: HTTPClient = .shared, logger: Logger = Logger(label: "tarmac.rollouts")) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.queries = Self.defaultQueries.merging(queries) { _, given in given }
        self.client = client
        self.logger = logger
    }

    /// A query with the service's labels and the window filled in.
    public func query(_ measure: String, service: String, version: String, window: Int) -> String {
        let parts = service.split(separator: "/", maxSplits: 1).map(String.init)
        let team = parts.first ?? "", name = parts.count > 1 ? parts[1] : ""
        return (queries[measure] ?? "")
            .replacingOccurrences(of: "$team", with: team).replacingOccurrences(of: "$service", with: name)
            .replacingOccurrences(of: "$version", with: version).replacingOccurrences(of: "$namespace", with: "\(team)-")
            .replacingOccurrences(of: "$window", with: "\(window)s")
    }

    public func measure(service: String, version: String, lastSeconds: Double) async -> TarmacDelivery.Measurement {
        let window = max(1, Int(lastSeconds.rounded()))
        async let requests = value("requests", service, version, window)
        async let errors = value("errors", service, version, window)
        async let model = value("modelErrors", service, version, window)
        async let p99 = value("p99LatencyMs", service, version, window)
        async let ttft = value("ttftMs", service, version, window)
        let n = Int(((await requests) ?? 0).rounded())
        guard n > 0 else { return TarmacDelivery.Measurement(requests: 0, successRate: 1, p99LatencyMs: 0) }
        let failed = min(n, Int(((await errors) ?? 0).rounded()))
        let modelSide = min(failed, Int(((await model) ?? 0).rounded()))
        return TarmacDelivery.Measurement(requests: n, successRate: Double(n - failed) / Double(n), p99LatencyMs: (await p99) ?? 0, timeToFirstTokenMs: await ttft,
                           modelErrors: modelSide, infrastructureErrors: failed - modelSide)
    }

    /// One instant query's single value: nil when it has none (no series, NaN) or the query failed.
    func value(_ measure: String, _ service: String, _ version: String, _ window: Int) async -> Double? {
        let q = query(measure, service: service, version: version, window: window)
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&+=?#")
        guard let encoded = q.addingPercentEncoding(withAllowedCharacters: allowed) else { return nil }
        do {
            let response = try await client.execute(HTTPClientRequest(url: "\(url)/api/v1/query?query=\(encoded)"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else {
                logger.warning("prometheus refused a query", metadata: ["measure": "\(measure)", "status": "\(response.status.code)", "body": "\(String(buffer: body).prefix(300))"])
                return nil
            }
            return Self.single(Data(body.readableBytesView))
        } catch {
            logger.warning("prometheus could not be queried", metadata: ["url": "\(url)", "measure": "\(measure)", "error": "\(error)"])
            return nil
        }
    }

    /// The value of a vector or scalar result with one element: `{"data": {"result": [{"value": [t, "12.5"]}]}}`.
    public static func single(_ data: Data) -> Double? {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], o["status"] as? String == "success",
              let d = o["data"] as? [String: Any] else { return nil }
        let pair: [Any]?
        switch d["resultType"] as? String {
        case "vector": pair = ((d["result"] as? [[String: Any]])?.first)?["value"] as? [Any]
        case "scalar": pair = d["result"] as? [Any]
        default: pair = nil
        }
        guard let text = pair?.last as? String, let v = Double(text), v.isFinite else { return nil }
        return v
    }
}
