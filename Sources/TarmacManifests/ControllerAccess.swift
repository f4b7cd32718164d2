import TarmacContract

/// What the control plane's own identity needs for workload identity and the tool gateway, as RBAC: to ask the API
/// server whether a pod's service-account token is genuine (TokenReview, cluster-wide), and, when a tool is served by
/// the gateway, to read the gateway's credentials (the one Secret `tarmac-gateway` in the system namespace, by name); to
/// read dcgm-exporter's pages through the pod proxy (GPU telemetry).
public enum ControllerAccess {
    public static func render(_ contract: Contract, controllerUser: String = Naming.controllerUser) -> [KubeObject] {
        let labels = Naming.base()
        let subject = subject(controllerUser)
        var out: [KubeObject] = [
            KubeObject("rbac.authorization.k8s.io/v1", "ClusterRole", name: "tarmac-identity", labels: labels, body: [
                "rules": [["apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]]],
            ]),
            KubeObject("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name: "tarmac-identity", labels: labels, body: [
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tarmac-identity"],
                "subjects": [subject],
            ]),
            // GPU telemetry: dcgm-exporter's pages are read through the API server's pod proxy.
            KubeObject("rbac.authorization.k8s.io/v1", "ClusterRole", name: "tarmac-telemetry", labels: labels, body: [
                "rules": [["apiGroups": [""], "resources": ["pods"], "verbs": ["list"]], ["apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]]],
            ]),
            KubeObject("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name: "tarmac-telemetry", labels: labels, body: [
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tarmac-telemetry"],
                "subjects": [subject],
            ]),
        ]
        if contract.platform.tools.values.contains(where: { $0.upstream != nil && $0.upstreamCredential != nil }) {
            out.append(KubeObject("rbac.authorization.k8s.io/v1", "Role", name: "tarmac-gateway-credentials", namespace: Naming.systemNamespace, labels: labels, body: [
                "rules": [["apiGroups": [""], "resources": ["secrets"], "resourceNames": [.string(Naming.gatewaySecret)], "verbs": ["get"]]],
            ]))
            out.append(KubeObject("rbac.authorization.k8s.io/v1", "RoleBinding", name: "tarmac-gateway-credentials", namespace: Naming.systemNamespace, labels: labels, body: [
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tarmac-gateway-credentials"],
                "subjects": [subject],
            ]))
        }
        return out
    }

    /// `system:serviceaccount:NAMESPACE:NAME` is a ServiceAccount; anything else a User.
    static func subject(_ user: String) -> KValue {
        if let account = Naming.serviceAccount(ofUser: user) {
            return ["kind": "ServiceAccount", "name": .string(account.name), "namespace": .string(account.namespace)]
        }
        return ["kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": .string(user)]
    }
}
