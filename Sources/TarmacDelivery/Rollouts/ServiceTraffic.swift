/// How one service's requests are split between the versions that serve it now: what the inference gateway routes
/// by in process, and what an HTTPRoute's weighted `backendRefs` say on Kubernetes. Computed from the running
/// InferenceServices and the rollouts, handed to a `TrafficRouter`.
public struct ServiceTraffic: Sendable, Hashable {
    /// One version's share.
    public struct Backend: Sendable, Hashable {
        /// The control plane's id of the workload serving this version.
        public var workload: String
        /// The workload's name: its Service's name on Kubernetes.
        public var name: String
        public var model: String
        public var version: String
        /// Percent of the service's requests (the shares of a service add up to 100).
        public var weight: Int
        /// `http://HOST:PORT` of each replica, where the backend says (empty on Kubernetes: the Service balances).
        public var endpoints: [String]

        public init(workload: String, name: String, model: String, version: String, weight: Int, endpoints: [String] = []) {
            self.workload = workload
            self.name = name
            self.model = model
            self.version = version
            self.weight = weight
            self.endpoints = endpoints
        }
    }

    public var team: String
    public var env: String
    /// The service's name: the InferenceService's name as written (`ranker`), whatever version serves it.
    public var service: String
    public var backends: [Backend]

    public init(team: String, env: String, service: String, backends: [Backend]) {
        self.team = team
        self.env = env
        self.service = service
        self.backends = backends
    }

    /// `TEAM/SERVICE`: the path prefix callers use at the gateway, and the key of a rollout.
    public var key: String { "\(team)/\(service)" }
}

/// Where the split is put into force: the in-process inference gateway's routes, or HTTPRoutes in a cluster.
public protocol TrafficRouter: Sendable {
    /// Every routed service as it should be now. The router changes what differs from what it last put in force and
    /// removes the routes of services no longer listed. Failures are the router's to report and retry; the next call
    /// tries again.
    func route(_ services: [ServiceTraffic]) async
}
