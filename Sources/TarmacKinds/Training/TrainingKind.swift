import TarmacContract
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// A gang of workers that train together: an indexed Job of `workers` pods that start and fail as one, a headless
/// Service for their rendezvous, and a checkpoint volume when the document asks for one.
public struct TrainingKind: WorkloadKind {
    public let details: TrainingDetails
    public init(details: TrainingDetails) { self.details = details }

    /// A minute of runtime before a preemption may take it: a gang that just started loses little, one that is just
    /// starting would only thrash.
    public var rules: KindRules { KindRules(maxAttempts: 3, minRuntime: 60_000) }

    /// A training job should end on its own and survive preemption.
    public func validate(_ w: Workload, size: Size?, platform: Platform) -> [Diagnostic] {
        guard w.isValid else { return [] }
        var out: [Diagnostic] = []
        let o = w.origin, t = details
        if w.maxDuration == nil {
            out.append(.warning(at: o.key("spec"), "training job has no maxDuration: a hung job holds its GPUs forever", rule: "max-duration", help: "set maxDuration, e.g. 12h"))
        }
        if t.workers > 1 || (w.maxDuration?.seconds ?? 0) > 3600, t.checkpoint == nil, size?.usesGPU == true {
            out.append(.warning(at: o.key("spec"), "long or multi-worker GPU job without a checkpoint: preemption or a failure restarts it from zero", rule: "checkpoint",
                                help: "set checkpoint: {path: /ckpt, interval: 30m}"))
        }
        return out
    }

    public func render(_ r: inout KindRender) {
        let t = details, name = r.name, size = r.size, p = r.platform
        let pool = p.pools(for: size).first { $0.canHost(size) }
        r.template.restartPolicy = "Never"
        r.template.subdomain = name
        r.template.containerName = "worker"
        r.template.ports = [["name": "rendezvous", "containerPort": .int(Naming.rendezvousPort), "protocol": "TCP"]]
        r.template.extraEnv = [
            ["name": "MASTER_ADDR", "value": .string("\(name)-0.\(name)")],
            ["name": "MASTER_PORT", "value": .string("\(Naming.rendezvousPort)")],
            ["name": "WORLD_SIZE", "value": .string("\(t.workers)")],
            ["name": "PET_NNODES", "value": .string("\(t.workers)")],
            ["name": "PET_NPROC_PER_NODE", "value": .string("\(max(1, size.gpus.wholeGPUs))")],
            ["name": "RANK", "valueFrom": ["fieldRef": ["fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"]]],
            ["name": "NODE_RANK", "valueFrom": ["fieldRef": ["fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"]]],
        ]
        if let c = t.checkpoint {
            r.template.extraEnv.append(["name": "TARMAC_CHECKPOINT_DIR", "value": .string(c.path)])
            if let i = c.interval { r.template.extraEnv.append(["name": "TARMAC_CHECKPOINT_INTERVAL_SECONDS", "value": .string("\(i.seconds)")]) }
            r.template.extraVolumes.append(["name": "checkpoint", "persistentVolumeClaim": ["claimName": .string("\(name)-checkpoint")]])
            r.template.extraMounts.append(["name": "checkpoint", "mountPath": .string(c.path)])
            var pvc: [String: KValue] = [
                "accessModes": ["ReadWriteMany"],
                "resources": ["requests": ["storage": .string(p.defaults.checkpointStorage.description)]],
            ]
            if let sc = p.defaults.storageClass { pvc["storageClassName"] = .string(sc) }
            r.objects.append(r.object("v1", "PersistentVolumeClaim", name: "\(name)-checkpoint", body: ["spec": .object(pvc)]))
        }
        if size.topology == .domain, let key = pool?.topologyKey {
            r.template.affinityExtra["podAffinity"] = ["requiredDuringSchedulingIgnoredDuringExecution": [[
                "labelSelector": r.selector,
                "topologyKey": .string(key),
            ]]]
        }
        r.objects.append(r.object("v1", "Service", body: ["spec": [
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
            "template": r.template.template(),
        ]
        if let d = r.workload.maxDuration { job["activeDeadlineSeconds"] = .int(Int(d.seconds)) }
        r.objects.append(r.object("batch/v1", "Job", body: ["spec": .object(job)], extraLabels: r.queueLabels))
    }

    /// Locally every worker is a process on this machine: rank by pod, the rendezvous on loopback.
    public func localPod(_ i: Int, of pods: Int, port: Int) -> LocalPodRole {
        LocalPodRole(environment: ["WORLD_SIZE": String(pods), "RANK": String(i), "NODE_RANK": String(i), "LOCAL_RANK": "0",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": String(port)])
    }
}
