import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// An agent: one pod that proves who it is with its identity token and calls its tools with per-tool tokens through
/// the tool gateway; its egress reaches the gateway and the tools the gateway does not serve, nothing else.
public struct AgentKind: WorkloadKind {
    public let details: AgentDetails
    public init(details: AgentDetails) { self.details = details }

    public var rules: KindRules { KindRules(maxAttempts: 3, longRunning: true) }

    /// Its tools come from the platform's catalogue, with scopes the tool has, and the least of them.
    public func validate(_ w: Workload, size: Size?, platform p: Platform) -> [Diagnostic] {
        let a = details
        var out: [Diagnostic] = []
        let o = w.origin
        for (name, scopes) in a.tools.sorted(by: { $0.key < $1.key }) {
            guard let tool = p.tools[name] else {
                out.append(.error(at: o.key("spec.tools.\(name)"), "unknown tool '\(name)'" + Suggestions.hint(for: name, in: p.tools.keys, noun: "tools"), rule: "unknown-tool",
                                  help: "agents may only call tools from the platform's catalogue"))
                continue
            }
            if scopes.isEmpty {
                out.append(.error(at: o.at("spec.tools.\(name)"), "tool '\(name)' is requested with no scopes", rule: "tool-scopes", help: "name the least scopes the agent needs, e.g. [\(tool.scopes.first ?? "read")]"))
            }
            for (i, s) in scopes.enumerated() {
                if !tool.scopes.contains(s) {
                    out.append(.error(at: o.at("spec.tools.\(name).\(i)"), "tool '\(name)' has no scope '\(s)'" + Suggestions.hint(for: s, in: tool.scopes, noun: "scopes"), rule: "tool-scopes"))
                } else if tool.sensitiveScopes.contains(s) && a.onBehalfOf == nil {
                    out.append(.error(at: o.at("spec.tools.\(name).\(i)"), "scope '\(s)' of tool '\(name)' is sensitive and needs spec.onBehalfOf", rule: "least-privilege",
                                      help: "set onBehalfOf to the person the agent acts for, or drop the scope"))
                }
            }
            if tool.scopes.count > 1 && Set(scopes) == Set(tool.scopes) {
                out.append(.warning(at: o.at("spec.tools.\(name)"), "agent asks for every scope of tool '\(name)'", rule: "least-privilege", help: "request only the scopes it uses"))
            }
        }
        return out
    }

    public func render(_ r: inout KindRender) {
        let a = details, p = r.platform, name = r.name
        r.template.containerName = "agent"
        r.template.extraEnv = [["name": "TARMAC_TOOLS", "value": .string(a.tools.keys.sorted().joined(separator: ","))]]
        if let who = a.onBehalfOf { r.template.extraEnv.append(["name": "TARMAC_ON_BEHALF_OF", "value": .string(who)]) }
        var deployment = r.object("apps/v1", "Deployment", body: ["spec": [
            "replicas": 1,
            "selector": r.selector,
            "template": r.template.template(),
        ]], extraLabels: r.queueLabels)
        deployment.annotations["tarmac.dev/tools"] = a.tools.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: "+"))" }.joined(separator: ",")
        r.objects.append(deployment)
        // Tools behind the gateway are reached only through it (pods of a namespace labelled tarmac.dev/gateway=true);
        // a tool the gateway does not serve, directly at its address.
        var egress: [KValue] = []
        if a.tools.keys.contains(where: { p.tools[$0]?.upstream != nil }) {
            egress.append(["to": [["namespaceSelector": ["matchLabels": [.init(stringLiteral: Naming.gatewayNamespaceLabel): "true"]]]]])
        }
        for tool in a.tools.keys.sorted() {
            guard let t = p.tools[tool], t.upstream == nil, let cidr = t.cidr else { continue }
            var rule: [String: KValue] = ["to": [["ipBlock": ["cidr": .string(cidr)]]]]
            if let port = t.port { rule["ports"] = [["port": .int(port), "protocol": "TCP"]] }
            egress.append(.object(rule))
        }
        r.objects.append(r.object("networking.k8s.io/v1", "NetworkPolicy", name: "\(name)-tools", body: ["spec": [
            "podSelector": r.selector,
            "policyTypes": ["Egress"],
            "egress": .list(egress),
        ]]))
    }

    /// An agent may serve (people ask it to act for them); locally the backend picks a free port.
    public func localPod(_ i: Int, of pods: Int, port: Int) -> LocalPodRole { LocalPodRole(environment: ["PORT": "8080"]) }
}
