import TarmacContract

/// How Tarmac itself is installed in a cluster (`tarmac install`).
public struct InstallOptions: Sendable, Equatable {
    /// The image built from the repository's Containerfile.
    public var image: String
    public var replicas: Int = 2
    /// The Secret with the PostgreSQL store: key `url` (postgres://…), optionally `password`.
    public var storeSecret = "tarmac-store"
    /// The Secret with the 32-byte credential key every replica shares: key `credential.key`.
    public var credentialKeySecret = "tarmac-credential-key"
    /// Ports of the tool gateway and the inference gateway (nil: not served).
    public var gatewayPort: Int?
    public var inferencePort: Int?
    public var port = 8080
    /// The Gateway (Gateway API) InferenceServices' HTTPRoutes attach to, NAMESPACE/NAME.
    public var inferenceGateway: String?
    /// A PostgreSQL in the cluster for the store (nil: the DSN of an existing one, in the store's Secret).
    public var bundledPostgres: BundledPostgres?
    public init(image: String) { self.image = image }
}

/// Tarmac in the cluster, as objects: its namespace, ServiceAccount and the RBAC its Kubernetes backend needs, the
/// leader-election Role, the platform contract as a ConfigMap, a Deployment of replicas (one leads by Lease, the
/// others forward to it; spread over nodes; Pod Security `restricted`), a PodDisruptionBudget and its Services. The Secrets
/// it reads (the store's URL, the credential key) are referenced, never rendered: they hold secrets.
public enum InstallRenderer {
    public static let name = "tarmac"
    public static let leaseName = "tarmac-leader"
    public static let platformConfigMap = "tarmac-platform"

    /// `platformFiles`: the contract's files, by their path relative to the platform file's folder.
    public static func render(_ contract: Contract, platformFiles: [(path: String, text: String)], platformFile: String, options o: InstallOptions) -> [KubeObject] {
        let ns = Naming.systemNamespace
        var labels = Naming.base()
        labels["app.kubernetes.io/name"] = name
        let selector = ["app.kubernetes.io/name": name]
        var out: [KubeObject] = [PlatformRenderer.systemNamespace(contract)]
        out.append(KubeObject("v1", "ServiceAccount", name: name, namespace: ns, labels: labels))
        out.append(KubeObject("rbac.authorization.k8s.io/v1", "ClusterRole", name: "tarmac-controller", labels: labels, body: ["rules": .list(controllerRules)]))
        out.append(KubeObject("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name: "tarmac-controller", labels: labels, body: [
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tarmac-controller"],
            "subjects": [["kind": "ServiceAccount", "name": .string(name), "namespace": .string(ns)]],
        ]))
        // Leader election: the one Lease, by name (creating it cannot be limited by name).
        out.append(KubeObject("rbac.authorization.k8s.io/v1", "Role", name: "tarmac-leader-election", namespace: ns, labels: labels, body: ["rules": [
            ["apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]],
            ["apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [.string(leaseName)], "verbs": ["get", "update"]],
        ]]))
        out.append(KubeObject("rbac.authorization.k8s.io/v1", "RoleBinding", name: "tarmac-leader-election", namespace: ns, labels: labels, body: [
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tarmac-leader-election"],
            "subjects": [["kind": "ServiceAccount", "name": .string(name), "namespace": .string(ns)]],
        ]))
        // What the platform renders for the control plane's identity (TokenReviews, telemetry, the gateway's Secret):
        // created here by whoever installs, since a controller may not grant itself permissions.
        out += ControllerAccess.render(contract, controllerUser: "system:serviceaccount:\(ns):\(name)")
        var data: [String: KValue] = [:]
        var items: [KValue] = []
        for f in platformFiles {
            let key = configMapKey(f.path)
            data[key] = .string(f.text)
            items.append(["key": .string(key), "path": .string(f.path)])
        }
        out.append(KubeObject("v1", "ConfigMap", name: platformConfigMap, namespace: ns, labels: labels, body: ["data": .object(data)]))
        out.append(deployment(o, labels: labels, selector: selector, items: items, platformFile: platformFile))
        out.append(KubeObject("policy/v1", "PodDisruptionBudget", name: name, namespace: ns, labels: labels, body: ["spec": [
            "minAvailable": 1, "selector": ["matchLabels": .stringMap(selector)],
        ]]))
        var ports: [KValue] = [["name": "api", "port": .int(o.port), "targetPort": "api", "protocol": "TCP"]]
        if let g = o.gatewayPort { ports.append(["name": "tools", "port": .int(g), "targetPort": "tools", "protocol": "TCP"]) }
        if let i = o.inferencePort { ports.append(["name": "inference", "port": .int(i), "targetPort": "inference", "protocol": "TCP"]) }
        if let pg = o.bundledPostgres { out += pg.render(labels: Naming.base(), storeSecret: o.storeSecret, tarmacSelector: selector) }
        // Every ready pod is an endpoint: the leader, and followers that forward to it (ready while it is).
        out.append(KubeObject("v1", "Service", name: name, namespace: ns, labels: labels, body: ["spec": [
            "type": "ClusterIP", "selector": .stringMap(selector), "ports": .list(ports),
        ]]))
        return out
    }

    /// A ConfigMap key for a file path (keys hold no slash; the volume's items put each file back at its path).
    static func configMapKey(_ path: String) -> String {
        String(path.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    static func deployment(_ o: InstallOptions, labels: [String: String], selector: [String: String], items: [KValue], platformFile: String) -> KubeObject {
        let ns = Naming.systemNamespace
        var args: [KValue] = ["up", "--backend", "kubernetes", "--in-cluster", "--platform", .string("/etc/tarmac/platform/" + platformFile),
                              "--data", "/var/lib/tarmac", "--host", "0.0.0.0", "--allow-remote", "--port", .string(String(o.port)),
                              "--leader-elect", "--leader-lease", .string("\(ns)/\(leaseName)"), "--credential-key", "/etc/tarmac/keys/credential.key",
                              "--advertise-url", .string("http://\(name).\(ns).svc:\(o.port)"),
                              // Where followers forward to while this pod leads (written in the Lease).
                              "--peer-host", "$(POD_IP)"]
        var ports: [KValue] = [["name": "api", "containerPort": .int(o.port), "protocol": "TCP"]]
        if let g = o.gatewayPort {
            args += ["--gateway-port", .string(String(g)), "--gateway-url", .string("http://\(name).\(ns).svc:\(g)")]
            ports.append(["name": "tools", "containerPort": .int(g), "protocol": "TCP"])
        }
        if let i = o.inferencePort {
            args += ["--inference-port", .string(String(i))]
            ports.append(["name": "inference", "containerPort": .int(i), "protocol": "TCP"])
        }
        if let gw = o.inferenceGateway { args += ["--inference-gateway", .string(gw)] }
        let container: KValue = [
            "name": "tarmac",
            "image": .string(o.image),
            "args": .list(args),
            "env": [
                ["name": "POD_NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
                ["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
                // The bundled PostgreSQL's address is known (its password is not); another one's DSN is in the Secret.
                o.bundledPostgres == nil ? ["name": "TARMAC_STORE", "valueFrom": ["secretKeyRef": ["name": .string(o.storeSecret), "key": "url"]]]
                    : ["name": "TARMAC_STORE", "value": .string(BundledPostgres.url)],
                ["name": "PGPASSWORD", "valueFrom": ["secretKeyRef": ["name": .string(o.storeSecret), "key": "password", "optional": .bool(o.bundledPostgres == nil)]]],
            ],
            "ports": .list(ports),
            // Ready: leading with its state recovered, or following a leader that is. Alive: the process serves.
            "readinessProbe": ["httpGet": ["path": "/readyz", "port": "api"], "periodSeconds": 2, "failureThreshold": 1],
            "livenessProbe": ["httpGet": ["path": "/healthz", "port": "api"], "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6],
            "resources": ["requests": ["cpu": "500m", "memory": "512Mi"], "limits": ["memory": "2Gi"]],
            "securityContext": [
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
                "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "volumeMounts": [
                ["name": "platform", "mountPath": "/etc/tarmac/platform", "readOnly": true],
                ["name": "keys", "mountPath": "/etc/tarmac/keys", "readOnly": true],
                ["name": "data", "mountPath": "/var/lib/tarmac"],
                ["name": "tmp", "mountPath": "/tmp"],
            ],
        ]
        return KubeObject("apps/v1", "Deployment", name: name, namespace: ns, labels: labels, body: ["spec": [
            "replicas": .int(o.replicas),
            "selector": ["matchLabels": .stringMap(selector)],
            // A new pod is up (following, ready once it reaches the leader) before an old one goes: the leader is
            // replaced last or first, never with nobody to take over.
            "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 0, "maxSurge": 1]],
            "template": [
                "metadata": ["labels": .stringMap(labels)],
                "spec": [
                    "serviceAccountName": .string(name),
                    "automountServiceAccountToken": true,
                    // The Lease outlives a killed leader by its duration; a graceful stop gives it up at once.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": [
                        "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                        "seccompProfile": ["type": "RuntimeDefault"],
                    ],
                    // One replica per node: losing a node loses at most one.
                    "affinity": ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
                        ["labelSelector": ["matchLabels": .stringMap(selector)], "topologyKey": "kubernetes.io/hostname"],
                    ]]],
                    "containers": [container],
                    "volumes": [
                        ["name": "platform", "configMap": ["name": .string(platformConfigMap), "items": .list(items)]],
                        ["name": "keys", "secret": ["secretName": .string(o.credentialKeySecret), "defaultMode": 0o400,
                                                    "items": [["key": "credential.key", "path": "credential.key"]]]],
                        ["name": "data", "emptyDir": [:]],
                        ["name": "tmp", "emptyDir": [:]],
                    ],
                ],
            ],
        ]])
    }

    /// What the Kubernetes backend does in the cluster: applies the platform (namespaces, quotas, limit ranges, network
    /// policies, priority classes, admission policies), keeps each workload's objects (Jobs, Deployments, Services,
    /// ServiceAccounts, PVCs, the attempt's Secret), watches pods and nodes, reads logs and dcgm-exporter's pages,
    /// routes InferenceServices (HTTPRoutes), and keeps the objects of ControllerAccess as the installer made them.
    static let controllerRules: [KValue] = {
        let all: KValue = ["get", "list", "watch", "create", "update", "patch", "delete"]
        let keep: KValue = ["get", "list", "watch", "create", "update", "patch"]
        return [
            ["apiGroups": [""], "resources": ["namespaces", "resourcequotas", "limitranges"], "verbs": keep],
            ["apiGroups": [""], "resources": ["services", "serviceaccounts", "persistentvolumeclaims", "secrets", "configmaps"], "verbs": all],
            ["apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete", "patch"]],
            ["apiGroups": [""], "resources": ["pods/log", "pods/proxy"], "verbs": ["get"]],
            ["apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]],
            ["apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]],
            ["apiGroups": ["batch"], "resources": ["jobs"], "verbs": all],
            ["apiGroups": ["apps"], "resources": ["deployments"], "verbs": all],
            ["apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": all],
            ["apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": all],
            ["apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": keep],
            ["apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingadmissionpolicies", "validatingadmissionpolicybindings"], "verbs": keep],
            ["apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": all],
            ["apiGroups": ["gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": ["get", "list", "watch"]],
            ["apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "clusterrolebindings"],
             "resourceNames": ["tarmac-identity", "tarmac-telemetry"], "verbs": ["get", "patch", "update"]],
            ["apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
             "resourceNames": ["tarmac-gateway-credentials"], "verbs": ["get", "patch", "update"]],
            ["apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]],
        ]
    }()
}
