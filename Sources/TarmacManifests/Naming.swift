import TarmacModel

/// Names and labels shared by every rendered object, so the control plane can find what it owns.
public enum Naming {
    public static let systemNamespace = "tarmac-system"
    /// The identity Tarmac's control plane uses inside the cluster.
    public static let controllerUser = "system:serviceaccount:tarmac-system:tarmac"
    public static let managedBy = "app.kubernetes.io/managed-by"
    /// The Secret (in the system namespace) that holds the tool gateway's upstream credentials, one key per
    /// `upstreamCredential` name.
    public static let gatewaySecret = "tarmac-gateway"
    /// The label of the namespace the tool gateway runs in (the system namespace, when a tool has an upstream).
    public static let gatewayNamespaceLabel = "tarmac.dev/gateway"
    public static let workloadLabel = "tarmac.dev/workload"
    /// The control plane's id of the workload an object belongs to (set by the Kubernetes backend, not by `render`).
    public static let workloadIDLabel = "tarmac.dev/workload-id"
    /// The attempt a pod template (and so its pods) belongs to.
    public static let attemptLabel = "tarmac.dev/attempt"
    public static let kindLabel = "tarmac.dev/kind"
    public static let teamLabel = "tarmac.dev/team"
    public static let envLabel = "tarmac.dev/env"
    public static let egressLabelPrefix = "egress.tarmac.dev/"
    public static let rendezvousPort = 29500
    public static let localQueue = "tarmac"

    public static func namespace(team: String, env: String) -> String { "\(team)-\(env)" }

    /// The namespace and name of a service account's user name, `system:serviceaccount:NAMESPACE:NAME`; nil for any
    /// other user.
    public static func serviceAccount(ofUser user: String) -> (namespace: String, name: String)? {
        let parts = user.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount" else { return nil }
        return (parts[2], parts[3])
    }
    public static func priorityClass(_ name: String) -> String { "tarmac-\(name)" }

    static func base(team: String? = nil, env: String? = nil) -> [String: String] {
        var l = [managedBy: "tarmac"]
        if let team { l[teamLabel] = team }
        if let env { l[envLabel] = env }
        return l
    }

    public static func labels(for w: Workload) -> [String: String] {
        var l = base(team: w.metadata.team, env: w.metadata.env)
        l[workloadLabel] = w.metadata.name
        l[kindLabel] = w.kind.rawValue.lowercased()
        for (k, v) in w.metadata.labels where !k.hasPrefix("tarmac.dev/") && k != managedBy { l[k] = v }
        return l
    }
}

/// Options of `tarmac render`.
public struct RenderOptions: Sendable {
    /// Also render Kueue objects (ResourceFlavors, ClusterQueues, LocalQueues, WorkloadPriorityClasses) and queue labels.
    public var kueue: Bool
    /// The user the admission policies let create GPU workloads: the control plane's own identity in the cluster.
    public var controllerUser: String
    public init(kueue: Bool = false, controllerUser: String = Naming.controllerUser) {
        self.kueue = kueue
        self.controllerUser = controllerUser
    }
}
