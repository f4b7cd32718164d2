import TarmacContract
import TarmacModel

/// ValidatingAdmissionPolicies (CEL) that enforce the contract inside the cluster, so raw kubectl cannot bypass it:
/// GPU workloads only through Tarmac, images only from allowed registries, GPU requests equal to limits
/// (and memory limit equal to request), no privileged pods or host access.
public enum AdmissionPolicies {
    static let api = "admissionregistration.k8s.io/v1"

    public static func render(_ contract: Contract, controllerUser: String = Naming.controllerUser) -> [KubeObject] {
        let base = contract.platform
        var gpuResources = Set<String>()
        for a in base.accelerators.values {
            gpuResources.insert(a.resource)
            if a.sharing != nil { gpuResources.insert(a.sharedResource) }
        }
        let gpuList = cel(gpuResources.sorted())
        var out: [KubeObject] = []

        out += policy(user: controllerUser, "tarmac-gpu-via-tarmac", gpuList: gpuList, validations: [
            validation("size(variables.gpuContainers) == 0 || variables.fromTarmac",
                       "GPU workloads in Tarmac namespaces are submitted through Tarmac (tarmac submit), not created directly"),
            validation("size(variables.gpuContainers) == 0 || object.kind != 'Pod' || (has(object.metadata.labels) && '\(Naming.workloadLabel)' in object.metadata.labels)",
                       "GPU pods must belong to a Tarmac workload (label \(Naming.workloadLabel))"),
        ])
        out += policy(user: controllerUser, "tarmac-gpu-requests-equal-limits", gpuList: gpuList, validations: [
            validation("variables.gpuContainers.all(c, has(c.resources.requests) && has(c.resources.limits) && \(gpuList).all(r, (r in c.resources.requests) == (r in c.resources.limits) && (!(r in c.resources.requests) || quantity(string(c.resources.requests[r])).compareTo(quantity(string(c.resources.limits[r]))) == 0)))",
                       "GPU requests must equal GPU limits"),
            validation("variables.gpuContainers.all(c, has(c.resources.requests) && has(c.resources.limits) && 'memory' in c.resources.requests && 'memory' in c.resources.limits && quantity(string(c.resources.requests['memory'])).compareTo(quantity(string(c.resources.limits['memory']))) == 0)",
                       "GPU containers must set a memory limit equal to their memory request"),
        ])
        out += policy(user: controllerUser, "tarmac-no-host-access", gpuList: gpuList, validations: [
            validation("!(has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork) && !(has(variables.podSpec.hostPID) && variables.podSpec.hostPID) && !(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC)",
                       "host network, PID and IPC namespaces are not allowed"),
            validation("!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath))",
                       "hostPath volumes are not allowed"),
            validation("variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)",
                       "privileged containers are not allowed"),
        ])
        for env in base.environments.keys.sorted() {
            let g = contract.resolve(env: env).platform.environments[env]!.guardrails
            guard !g.allowedRegistries.isEmpty else { continue }
            let regs = cel(g.allowedRegistries.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }.sorted())
            out += policy(user: controllerUser, "tarmac-registries-\(env)", gpuList: gpuList, env: env, validations: [
                validation("variables.containers.all(c, \(regs).exists(r, c.image.startsWith(r + '/') || c.image.startsWith(r + ':') || c.image.startsWith(r + '@')))",
                           "images in environment \(env) must come from: \(g.allowedRegistries.joined(separator: ", "))"),
            ])
        }
        return out
    }

    static func validation(_ expression: String, _ message: String) -> KValue {
        ["expression": .string(expression), "message": .string(message)]
    }

    static func cel(_ strings: [String]) -> String {
        "[" + strings.map { "'" + $0.replacingOccurrences(of: "'", with: "\\'") + "'" }.joined(separator: ", ") + "]"
    }

    /// A policy over pods and every controller that has a pod template, plus its binding.
    static func policy(user: String, _ name: String, gpuList: String, env: String? = nil, validations: [KValue]) -> [KubeObject] {
        let ops: KValue = ["CREATE", "UPDATE"]
        let rules: KValue = [
            ["apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]],
            ["apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"], "operations": ops],
            ["apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"], "operations": ops],
        ]
        let variables: KValue = [
            ["name": "podSpec",
             "expression": "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)"],
            ["name": "containers",
             "expression": "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"],
            ["name": "gpuContainers",
             "expression": .string("variables.containers.filter(c, has(c.resources) && ((has(c.resources.requests) && c.resources.requests.exists(r, r in \(gpuList))) || (has(c.resources.limits) && c.resources.limits.exists(r, r in \(gpuList)))))")],
            ["name": "fromTarmac",
             "expression": .string("request.userInfo.username == '\(user)' || request.userInfo.username == 'system:kube-controller-manager' || request.userInfo.username.startsWith('system:serviceaccount:kube-system:')")],
        ]
        var nsLabels: [String: KValue] = [Naming.managedBy: "tarmac"]
        if let env { nsLabels[Naming.envLabel] = .string(env) }
        let selector: KValue = ["namespaceSelector": ["matchLabels": .object(nsLabels)]]
        let labels = Naming.base()
        return [
            KubeObject(api, "ValidatingAdmissionPolicy", name: name, labels: labels, body: ["spec": [
                "failurePolicy": "Fail",
                "matchConstraints": ["resourceRules": rules],
                "variables": variables,
                "validations": .list(validations),
            ]]),
            KubeObject(api, "ValidatingAdmissionPolicyBinding", name: name, labels: labels, body: ["spec": [
                "policyName": .string(name),
                "validationActions": ["Deny"],
                "matchResources": selector,
            ]]),
        ]
    }
}
