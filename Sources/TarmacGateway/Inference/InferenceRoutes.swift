import Synchronization

/// Where one service's requests go: its versions, each with a share of the requests and the replicas that serve it.
public struct InferenceRoute: Sendable, Hashable {
    public struct Version: Sendable, Hashable {
        /// The model version served (`ranker@1.2.0`), as metrics and rollouts name it.
        public var model: String
        public var version: String
        /// Percent of requests (the weights of a route sum to 100 when any is set).
        public var weight: Int
        /// `host:port` of each ready replica.
        public var replicas: [Replica]
        /// The workload serving it (what the metering ledger counts its tokens against).
        public var workload: String?
        public init(model: String, version: String, weight: Int, replicas: [Replica], workload: String? = nil) {
            self.model = model
            self.version = version
            self.weight = weight
            self.replicas = replicas
            self.workload = workload
        }
    }

    public struct Replica: Sendable, Hashable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `http://HOST:PORT` (anything else: nil).
        public init?(url: String) {
            guard url.hasPrefix("http://") else { return nil }
            let rest = url.dropFirst(7).split(separator: "/", maxSplits: 1).first ?? ""
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else { return nil }
            host = String(rest[..<colon])
            self.port = port
        }
    }

    public var team: String
    public var service: String
    public var versions: [Version]
    /// Requests with this header keep to one version while the weights stay the same (nil: spread by weight).
    public var stickyHeader: String?
    /// Requests in flight beyond this get 429 with Retry-After.
    public var queueLimit: Int

    public init(team: String, service: String, versions: [Version], stickyHeader: String? = nil, queueLimit: Int = 256) {
        self.team = team
        self.service = service
        self.versions = versions
        self.stickyHeader = stickyHeader
        self.queueLimit = queueLimit
    }

    public var key: String { "\(team)/\(service)" }
}

/// The inference gateway's routing table, replaced whole when services, replicas or weights change; picks keep their
/// place in the weighted rotation across replacements that change nothing.
public final class InferenceRoutes: Sendable {
    struct Entry {
        var route: InferenceRoute
        var picker: WeightedPicker
        /// The next replica of each version (round robin).
        var nextReplica: [Int]
        var inFlight = 0
    }

    private let table = Mutex<[String: Entry]>([:])

    public init() {}

    public func replace(_ routes: [InferenceRoute]) {
        table.withLock { t in
            var next: [String: Entry] = [:]
            for r in routes {
                if var old = t[r.key], old.route.versions.map(\.weight) == r.versions.map(\.weight) {
                    old.route = r
                    if old.nextReplica.count != r.versions.count { old.nextReplica = Array(repeating: 0, count: r.versions.count) }
                    next[r.key] = old
                } else {
                    next[r.key] = Entry(route: r, picker: WeightedPicker(weights: r.versions.map(\.weight)),
                                        nextReplica: Array(repeating: 0, count: r.versions.count), inFlight: t[r.key]?.inFlight ?? 0)
                }
            }
            t = next
        }
    }

    public var routes: [InferenceRoute] { table.withLock { $0.values.map(\.route) } }

    public func route(_ key: String) -> InferenceRoute? { table.withLock { $0[key]?.route } }

    public enum Pick: Sendable, Hashable {
        case to(version: InferenceRoute.Version, replica: InferenceRoute.Replica)
        case noService
        /// The service is known but no version with a share has a ready replica.
        case noReplica(InferenceRoute)
        case overloaded(limit: Int)
    }

    /// Chooses the version (by weight, or by the sticky key) and the replica (round robin) of one request, and counts it in
    /// flight (`done` ends it). A retry names the version it keeps to and the replica that just failed (`avoiding`).
    public func pick(_ key: String, sticky: String?, version kept: String? = nil, avoiding: InferenceRoute.Replica? = nil) -> Pick {
        table.withLock { t in
            guard var e = t[key] else { return .noService }
            guard e.inFlight < e.route.queueLimit else { return .overloaded(limit: e.route.queueLimit) }
            let chosen: Int? = kept.map { k in e.route.versions.firstIndex { $0.version == k } } ?? (sticky.flatMap { e.picker.pick(sticky: $0) } ?? e.picker.next())
            guard let v = chosen, e.route.versions.indices.contains(v) else { return .noReplica(e.route) }
            var version = e.route.versions[v]
            if let avoiding, version.replicas.count > 1 { version.replicas.removeAll { $0 == avoiding } }
            guard !version.replicas.isEmpty else {
                t[key] = e
                return .noReplica(e.route)
            }
            let i = e.nextReplica[v] % version.replicas.count
            e.nextReplica[v] = i + 1
            e.inFlight += 1
            t[key] = e
            return .to(version: e.route.versions[v], replica: version.replicas[i])
        }
    }

    public func done(_ key: String) { table.withLock { t in if t[key] != nil { t[key]!.inFlight = max(0, t[key]!.inFlight - 1) } } }

    public func inFlight(_ key: String) -> Int { table.withLock { $0[key]?.inFlight ?? 0 } }
}
