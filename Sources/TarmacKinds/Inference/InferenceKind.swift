import TarmacContract
import TarmacDelivery
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// A model served behind a Service: a Deployment of `replicas.min` replicas (an autoscaler between min and max), a
/// readiness probe on its port, and ingress only from the gateway's namespace and its own.
public struct InferenceKind: WorkloadKind {
    public let details: InferenceDetails
    public init(details: InferenceDetails) { self.details = details }

    public var rules: KindRules { KindRules(maxAttempts: 3, longRunning: true) }

    /// A rollback target is another version of the same model.
    public func validate(_ w: Workload, size: Size?, platform: Platform) -> [Diagnostic] {
        let o = w.origin
        var out: [Diagnostic] = []
        // The steps' grammar and the fields that go together are the kind's to check, even beside the schema's errors
        // (every problem at once); a rule's own fields are the schema's, once the document has none.
        if let r = details.rollout, case .failure(let problems) = Self.rolloutSpec(r) {
            for p in problems.items where w.isValid || !p.field.hasPrefix("rules.") {
                out.append(.error(at: o.at("spec.rollout.\(p.field)"), p.message, rule: "rollout"))
            }
        }
        guard w.isValid else { return out }
        if let r = details.rollbackTarget {
            if r == details.model {
                out.append(.error(at: o.at("spec.rollbackTarget"), "rollbackTarget \(r) is the version being deployed", rule: "rollback-target", help: "name the version to return to"))
            } else if r.name != details.model.name {
                out.append(.error(at: o.at("spec.rollbackTarget"), "rollbackTarget \(r) is another model than \(details.model)", rule: "rollback-target"))
            }
        }
        return out
    }

    /// `spec.rollout` read into a rollout spec, or every problem with it (each naming its field under `spec.rollout`).
    public static func rolloutSpec(_ r: InferenceRollout) -> Result<RolloutSpec, RolloutSpec.FieldProblems> {
        let draft = RolloutSpec.Draft(strategy: r.strategy, steps: r.steps,
                                      rules: r.rules.map { .init(metric: $0.metric, threshold: $0.threshold, minRequests: $0.minRequests) },
                                      rollbackWindowSeconds: r.rollbackWindow?.seconds, previewSeconds: r.previewWindow?.seconds)
        return RolloutSpec.read(draft).mapError { problems in
            // The field names of the document: the windows are durations there.
            RolloutSpec.FieldProblems(problems.items.map { p in
                var p = p
                if p.field == "previewSeconds" { p.field = "previewWindow" }
                if p.field == "rollbackWindowSeconds" { p.field = "rollbackWindow" }
                return p
            })
        }
    }

    public func render(_ r: inout KindRender) {
        let i = details, name = r.name
        r.template.containerName = "server"
        r.template.extraLabels = ["tarmac.dev/model": i.model.name]
        r.template.ports = [["name": "http", "containerPort": .int(i.port), "protocol": "TCP"]]
        r.template.readinessProbe = ["tcpSocket": ["port": "http"], "periodSeconds": 5]
        r.template.extraEnv = [
            ["name": "MODEL_NAME", "value": .string(i.model.name)],
            ["name": "MODEL_VERSION", "value": .string(i.model.version)],
            ["name": "PORT", "value": .string("\(i.port)")],
        ]
        var ann = r.annotations
        ann["tarmac.dev/model"] = i.model.description
        if let rollback = i.rollbackTarget { ann["tarmac.dev/rollback-target"] = rollback.description }
        var deployment = r.object("apps/v1", "Deployment", body: ["spec": [
            "replicas": .int(i.replicas.min),
            "selector": r.selector,
            "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1, "maxUnavailable": 0]],
            "template": r.template.template(),
        ]], extraLabels: r.queueLabels)
        deployment.annotations = ann
        r.objects.append(deployment)
        r.objects.append(r.object("v1", "Service", body: ["spec": [
            "type": "ClusterIP",
            "selector": [.init(stringLiteral: Naming.workloadLabel): .string(name)],
            "ports": [["name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"]],
        ]]))
        r.objects.append(r.object("networking.k8s.io/v1", "NetworkPolicy", name: "\(name)-ingress", body: ["spec": [
            "podSelector": r.selector,
            "policyTypes": ["Ingress"],
            "ingress": [[
                "from": [["namespaceSelector": ["matchLabels": [.init(stringLiteral: Naming.gatewayNamespaceLabel): "true"]]], ["podSelector": [:]]],
                "ports": [["port": .int(i.port), "protocol": "TCP"]],
            ]],
        ]]))
        if i.replicas.max > i.replicas.min {
            r.objects.append(r.object("autoscaling/v2", "HorizontalPodAutoscaler", body: ["spec": [
                "scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(name)],
                "minReplicas": .int(max(1, i.replicas.min)),
                "maxReplicas": .int(i.replicas.max),
                "metrics": [["type": "Resource", "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 70]]]],
            ]]))
        }
    }

    /// Locally replicas share the machine: replica `i` listens on the document's port + i (the local backend moves it to
    /// a free port when that one is taken). Each gets the model it serves, as on Kubernetes.
    public func localPod(_ i: Int, of pods: Int, port: Int) -> LocalPodRole {
        LocalPodRole(environment: ["PORT": String(details.port + i), "MODEL_NAME": details.model.name, "MODEL_VERSION": details.model.version])
    }
}
