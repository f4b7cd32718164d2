import TarmacContract
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
        guard w.isValid, let r = details.rollbackTarget else { return [] }
        let o = w.origin
        if r == details.model {
            return [.error(at: o.at("spec.rollbackTarget"), "rollbackTarget \(r) is the version being deployed", rule: "rollback-target", help: "name the version to return to")]
        } else if r.name != details.model.name {
            return [.error(at: o.at("spec.rollbackTarget"), "rollbackTarget \(r) is another model than \(details.model)", rule: "rollback-target")]
        }
        return []
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
