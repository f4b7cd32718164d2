/// A node of a platform of several clusters is named `CLUSTER/NODE` (a Kubernetes node name has no slash).
public enum FleetNodeName {
    public static func join(cluster: String, node: String) -> String { cluster + "/" + node }

    /// The cluster and the node's own name; nil for a node of one cluster (no slash).
    public static func split(_ name: String) -> (cluster: String, node: String)? {
        guard let slash = name.firstIndex(of: "/") else { return nil }
        return (String(name[..<slash]), String(name[name.index(after: slash)...]))
    }
}
