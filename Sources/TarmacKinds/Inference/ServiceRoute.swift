import TarmacDelivery
import TarmacManifests

/// The Gateway API `HTTPRoute` of one inference service: `/<team>/<service>/...` on Tarmac's inference Gateway goes to
/// the Service of each version serving it, by weight (`backendRefs`), the prefix rewritten to `/`, as the in-process
/// inference gateway does. Named after the service in its team's namespace; a rollout moves the weights by applying it
/// again.
public enum ServiceRoute {
    /// The Gateway the routes attach to: created by the platform team with its gateway implementation's class
    /// (Envoy Gateway, Istio, a cloud's); by default `tarmac-system/tarmac-inference`.
    public struct Parent: Sendable, Hashable, CustomStringConvertible {
        public var namespace: String
        public var name: String
        public init(namespace: String = Naming.systemNamespace, name: String = "tarmac-inference") {
            self.namespace = namespace
            self.name = name
        }

        /// `NAMESPACE/NAME`, or a bare name in the system namespace; nil when malformed.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(parts.count), parts.allSatisfy(Self.isDNSLabel) else { return nil }
            self.init(namespace: parts.count == 2 ? parts[0] : Naming.systemNamespace, name: parts.last!)
        }

        public var description: String { "\(namespace)/\(name)" }

        static func isDNSLabel(_ s: String) -> Bool {
            guard !s.isEmpty, s.count <= 63, let first = s.first, let last = s.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
            return s.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "-" }
        }
    }

    public static let apiVersion = "gateway.networking.k8s.io/v1"
    /// The label naming the service a route belongs to.
    public static let serviceLabel = "tarmac.dev/service"
    /// The header a request names a version with (as the in-process gateway's).
    public static let versionHeader = "X-Tarmac-Version"
    /// The port of every version's Service (InferenceKind renders it).
    public static let servicePort = 80

    public static func httpRoute(_ t: ServiceTraffic, parent: Parent = Parent()) -> KubeObject {
        let labels = [Naming.managedBy: "tarmac", Naming.teamLabel: t.team, Naming.envLabel: t.env, serviceLabel: t.service]
        let versions = t.backends.map { "\($0.model)@\($0.version)=\($0.weight)" }.joined(separator: ",")
        let rewrite: KValue = [["type": "URLRewrite", "urlRewrite": ["path": ["type": "ReplacePrefixMatch", "replacePrefixMatch": "/"]]]]
        return KubeObject(apiVersion, "HTTPRoute", name: t.service, namespace: Naming.namespace(team: t.team, env: t.env), labels: labels,
                          annotations: ["tarmac.dev/versions": versions], body: ["spec": [
            "parentRefs": [["group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": .string(parent.namespace), "name": .string(parent.name)]],
            "rules": .list([[
                "matches": [["path": ["type": "PathPrefix", "value": .string("/\(t.team)/\(t.service)")]]],
                "filters": rewrite,
                "backendRefs": .list(t.backends.map { b in
                    ["group": "", "kind": "Service", "name": .string(b.name), "port": .int(servicePort), "weight": .int(b.weight)]
                }),
            ]] + (t.backends.count > 1 ? t.backends.map { b -> KValue in
                // A request naming a version (the in-process gateway's X-Tarmac-Version) goes to it whatever its share:
                // a header match is more specific than the path alone, so it wins.
                [
                    "matches": [["path": ["type": "PathPrefix", "value": .string("/\(t.team)/\(t.service)")],
                                 "headers": [["type": "Exact", "name": .string(versionHeader), "value": .string(b.version)]]]],
                    "filters": rewrite,
                    "backendRefs": [["group": "", "kind": "Service", "name": .string(b.name), "port": .int(servicePort)]],
                ]
            } : [])),
        ]])
    }
}
