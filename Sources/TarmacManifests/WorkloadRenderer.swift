import TarmacContract
import TarmacModel

/// Turns one validated workload into the Kubernetes objects that run it.
/// Jobs are created suspended: Tarmac unsuspends them when it admits the workload.
public enum WorkloadRenderer {
    public enum Failure: Error, Equatable { case invalid(String) }

    public static func render(_ w: Workload, contract: Contract, options: RenderOptions = RenderOptions()) -> Result<[KubeObject], Failure> {
        guard w.isValid else { return .failure(.invalid("workload '\(w.metadata.name)' has errors; run tarmac validate")) }
        let p = contract.resolve(env: w.metadata.env, team: w.metadata.team).platform
        guard let size = p.sizes[w.workloadClass]?[w.size] else {
            return .failure(.invalid("unknown \(w.workloadClass.rawValue) size '\(w.size)'"))
        }
        let ns = Naming.namespace(team: w.metadata.team, env: w.metadata.env)
        let name = w.metadata.name
        let labels = Naming.labels(for: w)
        var annotations = ["tarmac.dev/size": size.reference]
        if let o = w.metadata.owner { annotations["tarmac.dev/owner"] = o }
        func object(_ api: String, _ kind: String, name n: String = name, body: [String: KValue], extraLabels: [String: String] = [:]) -> KubeObject {
            KubeObject(api, kind, name: n, namespace: ns, labels: labels.merging(extraLabels) { _, b in b }, annotations: annotations, body: body)
        }
        var objects: [KubeObject] = []
        // One ServiceAccount per workload, never with an API token mounted (agents get an audience-bound token instead).
        objects.append(object("v1", "ServiceAccount", body: ["automountServiceAccountToken": false]))
        var template = PodTemplate(workload: w, size: size, platform: p)
        let queueLabels: [String: String] = options.kueue ? queueLabels(w, p) : [:]

        switch w.details {
        case .training(let t):
            let pool = p.pools(for: size).first { $0.canHost(size) }
            template.restartPolicy = "Never"
            template.subdomain = name
            template.containerName = "worker"
            template.ports = [["name": "rendezvous", "containerPort": .int(Naming.rendezvousPort), "protocol": "TCP"]]
            template.extraEnv = [
                ["name": "MASTER_ADDR", "value": .string("\(name)-0.\(name)")],
                ["name": "MASTER_PORT", "value": .string("\(Naming.rendezvousPort)")],
                ["name": "WORLD_SIZE", "value": .string("\(t.workers)")],
                ["name": "PET_NNODES", "value": .string("\(t.workers)")],
                ["name": "PET_NPROC_PER_NODE", "value": .string("\(max(1, size.gpus.wholeGPUs))")],
                ["name": "RANK", "valueFrom": ["fieldRef": ["fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"]]],
                ["name": "NODE_RANK", "valueFrom": ["fieldRef": ["fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"]]],
            ]
            if let c = t.checkpoint {
                template.extraEnv.append(["name": "TARMAC_CHECKPOINT_DIR", "value": .string(c.path)])
                if let i = c.interval { template.extraEnv.append(["name": "TARMAC_CHECKPOINT_INTERVAL_SECONDS", "value": .string("\(i.seconds)")]) }
                template.extraVolumes.append(["name": "checkpoint", "persistentVolumeClaim": ["claimName": .string("\(name)-checkpoint")]])
                template.extraMounts.append(["name": "checkpoint", "mountPath": .string(c.path)])
                var pvc: [String: KValue] = [
                    "accessModes": ["ReadWriteMany"],
                    "resources": ["requests": ["storage": .string(p.defaults.checkpointStorage.description)]],
                ]
                if let sc = p.defaults.storageClass { pvc["storageClassName"] = .string(sc) }
                objects.append(object("v1", "PersistentVolumeClaim", name: "\(name)-checkpoint", body: ["spec": .object(pvc)]))
            }
            if size.topology == .domain, let key = pool?.topologyKey {
                template.affinityExtra["podAffinity"] = ["requiredDuringSchedulingIgnoredDuringExecution": [[
                    "labelSelector": ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]],
                    "topologyKey": .string(key),
                ]]]
            }
            objects.append(object("v1", "Service", body: ["spec": [
                "clusterIP": "None",
                "publishNotReadyAddresses": true,
                "selector": [.init(stringLiteral: Naming.workloadLabel): .string(name)],
                "ports": [["name": "rendezvous", "port": .int(Naming.rendezvousPort), "targetPort": .int(Naming.rendezvousPort), "protocol": "TCP"]],
            ]]))
            var job: [String: KValue] = [
                "suspend": true,
                "completionMode": "Indexed",
                "completions": .int(t.workers),
                "parallelism": .int(t.workers),
                "backoffLimit": 0,  // a gang fails as a whole; Tarmac retries it from its checkpoint
                "template": template.template(),
            ]
            if let d = w.maxDuration { job["activeDeadlineSeconds"] = .int(Int(d.seconds)) }
            objects.append(object("batch/v1", "Job", body: ["spec": .object(job)], extraLabels: queueLabels))

        case .batch(let b):
            template.restartPolicy = "Never"
            template.containerName = "task"
            var job: [String: KValue] = [
                "suspend": true,
                "completionMode": "Indexed",
                "completions": .int(b.tasks),
                "parallelism": .int(min(b.parallelism, b.tasks)),
                "backoffLimitPerIndex": .int(b.maxRetries),
                "template": template.template(),
            ]
            if let d = w.maxDuration { job["activeDeadlineSeconds"] = .int(Int(d.seconds)) }
            objects.append(object("batch/v1", "Job", body: ["spec": .object(job)], extraLabels: queueLabels))

        case .inference(let i):
            template.containerName = "server"
            template.extraLabels = ["tarmac.dev/model": i.model.name]
            template.ports = [["name": "http", "containerPort": .int(i.port), "protocol": "TCP"]]
            template.readinessProbe = ["tcpSocket": ["port": "http"], "periodSeconds": 5]
            template.extraEnv = [
                ["name": "MODEL_NAME", "value": .string(i.model.name)],
                ["name": "MODEL_VERSION", "value": .string(i.model.version)],
                ["name": "PORT", "value": .string("\(i.port)")],
            ]
            var ann = annotations
            ann["tarmac.dev/model"] = i.model.description
            if let r = i.rollbackTarget { ann["tarmac.dev/rollback-target"] = r.description }
            var deployment = object("apps/v1", "Deployment", body: ["spec": [
                "replicas": .int(i.replicas.min),
                "selector": ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]],
                "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": 1, "maxUnavailable": 0]],
                "template": template.template(),
            ]], extraLabels: queueLabels)
            deployment.annotations = ann
            objects.append(deployment)
            objects.append(object("v1", "Service", body: ["spec": [
                "type": "ClusterIP",
                "selector": [.init(stringLiteral: Naming.workloadLabel): .string(name)],
                "ports": [["name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"]],
            ]]))
            objects.append(object("networking.k8s.io/v1", "NetworkPolicy", name: "\(name)-ingress", body: ["spec": [
                "podSelector": ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]],
                "policyTypes": ["Ingress"],
                "ingress": [[
                    "from": [["namespaceSelector": ["matchLabels": [.init(stringLiteral: Naming.gatewayNamespaceLabel): "true"]]], ["podSelector": [:]]],
                    "ports": [["port": .int(i.port), "protocol": "TCP"]],
                ]],
            ]]))
            if i.replicas.max > i.replicas.min {
                objects.append(object("autoscaling/v2", "HorizontalPodAutoscaler", body: ["spec": [
                    "scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(name)],
                    "minReplicas": .int(max(1, i.replicas.min)),
                    "maxReplicas": .int(i.replicas.max),
                    "metrics": [["type": "Resource", "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 70]]]],
                ]]))
            }

        case .agent(let a):
            template.containerName = "agent"
            // The agent proves who it is with its identity token (every pod has one), and calls tools with per-tool
            // tokens through the tool gateway.
            template.extraEnv = [["name": "TARMAC_TOOLS", "value": .string(a.tools.keys.sorted().joined(separator: ","))]]
            if let who = a.onBehalfOf { template.extraEnv.append(["name": "TARMAC_ON_BEHALF_OF", "value": .string(who)]) }
            var deployment = object("apps/v1", "Deployment", body: ["spec": [
                "replicas": 1,
                "selector": ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]],
                "template": template.template(),
            ]], extraLabels: queueLabels)
            deployment.annotations["tarmac.dev/tools"] = a.tools.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: "+"))" }.joined(separator: ",")
            objects.append(deployment)
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
            objects.append(object("networking.k8s.io/v1", "NetworkPolicy", name: "\(name)-tools", body: ["spec": [
                "podSelector": ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]],
                "policyTypes": ["Egress"],
                "egress": .list(egress),
            ]]))
        }
        return .success(objects.sortedByPath())
    }

    static func queueLabels(_ w: Workload, _ p: Platform) -> [String: String] {
        var l = ["kueue.x-k8s.io/queue-name": Naming.localQueue]
        if let prio = w.priority ?? p.defaults.priority[w.workloadClass] { l["kueue.x-k8s.io/priority-class"] = Naming.priorityClass(prio) }
        return l
    }
}
