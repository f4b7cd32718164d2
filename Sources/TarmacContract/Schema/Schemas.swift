import TarmacModel

/// The schemas of every Tarmac document. The checker and `tarmac schema` both read these.
public enum Schemas {
    static func s(_ t: ScalarType, _ d: String) -> Schema { .scalar(t, description: d) }
    static func names(_ d: String) -> Schema { .list(s(.name, "A name."), description: d) }
    static func strings(_ d: String) -> Schema { .list(s(.string, "A string."), description: d) }

    static let stringMap = Schema.map(keys: .labelKey, values: s(.string, "Value."), description: "Labels as key: value.")

    static func header(kind: DocumentKind) -> [Field] {
        [
            Field("apiVersion", s(.constant(DocumentKind.apiVersion), "Always \(DocumentKind.apiVersion)."), required: true),
            Field("kind", s(.constant(kind.rawValue), "The document kind."), required: true),
        ]
    }

    // MARK: Platform

    static let accelerator = Schema.object(ObjectSchema("An accelerator model and how Kubernetes exposes it.", [
        Field("resource", s(.labelKey, "Extended resource advertised by the device plugin, e.g. nvidia.com/gpu."), required: true),
        Field("product", s(.string, "Value of the node label nvidia.com/gpu.product for this model.")),
        Field("memory", s(.bytes, "Memory of one device, e.g. 80Gi.")),
        Field("interconnect", s(.oneOf(["nvlink", "pcie", "infinity-fabric"]), "How GPUs of one node talk to each other.")),
        Field("hourlyCost", s(.number(min: 0), "Cost of one device-hour, in the platform's currency.")),
        Field("sharing", .object(ObjectSchema("Time-sliced sharing of one device by several workloads.", [
            Field("maxPerGPU", s(.integer(min: 2, max: 64), "How many workloads may share one device."), required: true),
            Field("resource", s(.labelKey, "Resource name of one shared slice (default: RESOURCE.shared).")),
        ]))),
        Field("description", s(.string, "Free text.")),
    ]))

    static let taint = Schema.object(ObjectSchema("A node taint that pods of this pool tolerate.", [
        Field("key", s(.labelKey, "Taint key."), required: true),
        Field("value", s(.string, "Taint value.")),
        Field("effect", s(.oneOf(["NoSchedule", "PreferNoSchedule", "NoExecute"]), "Taint effect."), required: true),
    ]))

    static let classes = Schema.list(s(.oneOf(WorkloadClass.allCases.map(\.rawValue)), "A workload class."),
                                     description: "Workload classes this pool runs.", minItems: 1)

    static let pool = Schema.object(ObjectSchema("A group of identical nodes.", [
        Field("accelerator", s(.name, "Accelerator of every node; omit for CPU-only pools.")),
        Field("gpusPerNode", s(.integer(min: 0, max: 64), "Devices per node.")),
        Field("cpuPerNode", s(.cpu, "Allocatable CPU per node."), required: true),
        Field("memoryPerNode", s(.bytes, "Allocatable memory per node."), required: true),
        Field("nodes", s(.integer(min: 1, max: 100_000), "Number of nodes."), required: true),
        Field("nodeSelector", .map(keys: .labelKey, values: s(.string, "Label value."), description: "Labels that select this pool's nodes.")),
        Field("topologyKey", s(.labelKey, "Node label naming a topology domain (rack, zone) for gangs that must stay in one.")),
        Field("classes", classes, required: true),
        Field("taints", .list(taint, description: "Taints on this pool's nodes, tolerated by its pods.")),
        Field("hourlyCost", s(.number(min: 0), "Cost of one node-hour (CPU pools).")),
        Field("description", s(.string, "Free text.")),
    ]))

    static let size = Schema.object(ObjectSchema("A t-shirt size: resources of one pod (worker, task or replica).", [
        Field("accelerator", s(.name, "Accelerator; omit for CPU-only sizes.")),
        Field("gpus", s(.gpus, "GPUs per pod: whole numbers, or a fraction below 1 on a shared accelerator.")),
        Field("cpu", s(.cpu, "CPU per pod."), required: true),
        Field("memory", s(.bytes, "Memory per pod (request = limit)."), required: true),
        Field("shm", s(.bytes, "Shared memory (/dev/shm) for data loaders, e.g. 16Gi.")),
        Field("ephemeralStorage", s(.bytes, "Scratch disk per pod.")),
        Field("topology", s(.oneOf(Topology.allCases.map(\.rawValue)), "node: a worker's GPUs on one node; domain: a whole gang in one topology domain.")),
        Field("pools", names("Only these pools run this size (default: every pool with its accelerator and class).")),
        Field("description", s(.string, "Free text shown to users.")),
    ]))

    static let sizeTable = Schema.map(keys: .name, values: size, description: "Sizes by name.")
    static let sizes = Schema.object(ObjectSchema("Sizes per workload class.",
        WorkloadClass.allCases.map { Field($0.rawValue, sizeTable) }))

    static let quota = Schema.map(keys: .name, values: s(.quotaAmount, "GPUs for an accelerator name, cores for cpu, bytes for memory."),
                                  description: "Amounts per accelerator name, plus cpu and memory.")

    static let team = Schema.object(ObjectSchema("A team: its members, quota and place in a cohort.", [
        Field("members", .list(s(.email, "A member's email."), description: "People who submit for this team.")),
        Field("quota", quota),
        Field("cohort", s(.name, "Cohort whose teams lend each other unused quota.")),
        Field("borrowingLimit", quota),
        Field("lendingLimit", quota),
        Field("weight", s(.number(min: 0.001), "Fair-share weight (default 1).")),
        Field("budget", .object(ObjectSchema("What the team may spend per calendar month (UTC): in money at the contract's rates, in GPU-hours, or both. At warnAt the team is warned; at the whole of either, its new work waits (reason budget) until the month ends or the budget is raised.", [
            Field("monthly", s(.number(min: 0), "Money per month, in the currency of the contract's hourlyCost and costs.")),
            Field("gpuHours", s(.number(min: 0), "GPU-hours per month (shares: a quarter GPU for an hour is 0.25).")),
            Field("warnAt", s(.number(min: 0.01), "The share of the budget at which the team is warned (default 0.8, at most 1).")),
            Field("stopPreemptible", s(.bool, "Over the budget, also preempt the team's running training and batch jobs (they resume from their last checkpoint when the budget allows); services and agents go on. Default false.")),
        ]))),
        Field("overrides", .object(ObjectSchema("Values that apply to this team only, layered over its environment.",
                                                [Field("sizes", sizes.partial)]))),
        Field("description", s(.string, "Free text.")),
    ]))

    static let guardrails = Schema.object(ObjectSchema("Rules every workload of an environment must follow.", [
        Field("allowedRegistries", strings("Registry hosts or host/path prefixes images may come from; empty allows any.")),
        Field("requireSignedImages", s(.bool, "Images must be signed (verified at admission).")),
        Field("requireOwner", s(.bool, "Workloads must name an owner.")),
        Field("requireRollbackTarget", s(.bool, "Inference services must name a rollback target.")),
        Field("allowedEgress", names("Destinations workloads may reach (DNS is always allowed).")),
        Field("maxDuration", s(.duration, "Longest maxDuration a job may ask for.")),
    ]))

    static let promotion = Schema.object(ObjectSchema("What a model version must show before it serves in this environment, and who may promote it. The environment's alias is protected: only a promotion that passes every gate moves it.", [
        Field("alias", s(.name, "The alias a promotion to this environment moves (default: the environment's name).")),
        Field("promoters", .list(s(.string, "role:admin or team:NAME."), description: "Who may promote (default: admins and the members of the model's team).")),
        Field("requireSignature", s(.bool, "The version must be signed over its manifest by one of trustedKeys.")),
        Field("trustedKeys", .map(keys: .name, values: s(.string, "A P-256 public key, PEM (-----BEGIN PUBLIC KEY-----)."), description: "Keys whose signatures this environment trusts, by name.")),
        Field("requireOwner", s(.bool, "The version must name an owner.")),
        Field("requireReview", s(.bool, "Someone other than the author must review: a promoted version's manifest (tarmac model approve), and every InferenceService document that serves here, new or rolling out (tarmac review approve FILE).")),
        Field("requireWarmRollback", s(.bool, "The version the alias points at now must be serving here, so a rollback is a routing change.")),
        Field("requireAnalysis", s(.bool, "A rollout to the version must gate on analysis rules.")),
    ]))

    static let idlePolicy = Schema.object(ObjectSchema("What is done about a workload of this class whose GPUs idle here, judged on their utilization (not on its processes' activity).", [
        Field("gpuUtilizationBelow", s(.number(min: 0), "Idle means GPU utilization under this percent (default 5, at most 100).")),
        Field("for", s(.duration, "How long it must stay under it before the team is notified (default 30m).")),
        Field("action", s(.oneOf(IdlePolicy.Action.allCases.map(\.rawValue)), "notify (the default): only tell the team; scaleToZero (InferenceServices): give the GPUs back, come back on the next request through the inference gateway; stop: cancel it.")),
        Field("grace", s(.duration, "How long after the notice the action waits for the GPUs to be used again (default 10m).")),
    ]))

    static let environment = Schema.object(ObjectSchema("An environment such as dev or prod.", [
        Field("overlay", s(.relativePath, "A PlatformOverlay file applied when resolving this environment.")),
        Field("guardrails", guardrails),
        Field("promotion", promotion),
        Field("idle", .object(ObjectSchema("Idle-GPU reclaim, per workload class: a class not named here is never reclaimed.",
                                           WorkloadClass.allCases.map { Field($0.rawValue, idlePolicy) }))),
        Field("description", s(.string, "Free text.")),
    ]))

    static let tool = Schema.object(ObjectSchema("A tool agents may call.", [
        Field("endpoint", s(.url, "Where the tool listens."), required: true),
        Field("cidr", s(.cidr, "Addresses of the tool, for network policy.")),
        Field("port", s(.integer(min: 1, max: 65535), "Port of the tool.")),
        Field("scopes", strings("Scopes the tool understands."), required: true),
        Field("sensitiveScopes", strings("Scopes an agent may only hold when acting on behalf of a person.")),
        Field("description", s(.string, "Free text.")),
        Field("upstream", s(.url, "Where Tarmac's tool gateway forwards calls (http or https).")),
        Field("upstreamCredential", s(.string, "Name of the gateway's own bearer token for the upstream: an environment variable of `tarmac up` with the local backend, a key of Secret tarmac-system/tarmac-gateway on Kubernetes. The caller's token is never passed on.")),
        Field("routes", .list(.object(ObjectSchema("A route and the scope a call to it needs.", [
            Field("path", s(.absolutePath, "Path prefix, e.g. /tickets."), required: true),
            Field("methods", .list(s(.oneOf(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]), "An HTTP method."), description: "Methods; empty means any.")),
            Field("scope", s(.name, "The scope a call needs."), required: true),
        ])), description: "Routes of the tool, first match wins; a call no route matches is refused.")),
        Field("mcp", .object(ObjectSchema("MCP over streamable HTTP: tools/list is filtered and tools/call gated by the same rules.", [
            Field("path", s(.absolutePath, "The JSON-RPC path (default /mcp).")),
            Field("tools", .map(keys: .any, values: .object(ObjectSchema("One MCP tool.", [
                Field("scope", s(.name, "The scope that lists and calls it."), required: true),
                Field("arguments", .map(keys: .any, values: strings("Allowed values."), description: "Allowed values per argument.")),
            ])), description: "MCP tools by name; one not listed is neither listed nor callable."), required: true),
        ]))),
        Field("grants", .map(keys: .name, values: .object(ObjectSchema("How a grant of one scope is given.", [
            Field("approvers", s(.string, "Who approves: role:admin or team:NAME (never the requester). Unset: granted at submit.")),
            Field("maxLifetime", s(.duration, "Longest lifetime of an approved grant (unset: until the agent ends).")),
        ])), description: "Per scope: approval and lifetime. Sensitive scopes need an admin's approval unless said otherwise.")),
        Field("oneTimeTokens", s(.bool, "Accept each token once (default false).")),
        Field("rateLimit", s(.number(min: 0), "Calls per second per agent and per person (default 0: unlimited).")),
    ]))

    static let identity = Schema.object(ObjectSchema("Workload identity and credential lifetimes.", [
        Field("trustDomain", s(.string, "SPIFFE trust domain (default: made from the platform's name).")),
        Field("svidLifetime", s(.duration, "Lifetime of a JWT-SVID (default 5m, at most 1h).")),
        Field("maxTokenLifetime", s(.duration, "Longest lifetime of a token issued by exchange (default 15m, at most 1h).")),
        Field("keyRotation", s(.duration, "How often signing keys rotate (default 24h, at least 1h).")),
    ]))

    static let destination = Schema.object(ObjectSchema("A network destination workloads may be allowed to reach.", [
        Field("cidr", s(.cidr, "Address block."), required: true),
        Field("ports", .list(s(.integer(min: 1, max: 65535), "A TCP port."), description: "TCP ports; empty means all.")),
        Field("description", s(.string, "Free text.")),
    ]))

    static let dataset = Schema.object(ObjectSchema("A dataset mounted by name.", [
        Field("claim", s(.name, "PersistentVolumeClaim holding the data, in each team namespace."), required: true),
        Field("readOnly", s(.bool, "Mount read-only (default true).")),
        Field("clusters", names("Clusters whose team namespaces hold the claim (default: every cluster): a workload mounting it is placed on one of them.")),
        Field("description", s(.string, "Free text.")),
    ]))

    static let cluster = Schema.object(ObjectSchema("A Kubernetes cluster Tarmac drives as part of the platform: the platform's objects are applied to it, and workloads are placed on it by the same engine as on every other.", [
        Field("name", s(.name, "The cluster's name in Tarmac (get, why, the audit trail, metrics)."), required: true),
        Field("kubeconfig", .object(ObjectSchema("How Tarmac reaches its API server: exactly one of path (with an optional context), context, secretRef or inCluster.", [
            Field("path", s(.relativePath, "A kubeconfig file, relative to this contract file (or absolute).")),
            Field("context", s(.string, "A context of that file; alone, a context of the kubeconfig tarmac up was given.")),
            Field("secretRef", .object(ObjectSchema("A kubeconfig kept in a Secret of tarmac-system in the cluster Tarmac runs in.", [
                Field("name", s(.name, "The Secret's name."), required: true),
                Field("key", s(.string, "Its key holding the kubeconfig (default kubeconfig).")),
            ]))),
            Field("inCluster", s(.bool, "The cluster Tarmac runs in, through its pod's service account.")),
        ])), required: true),
        Field("pools", names("Pools it offers (default: every pool of the contract).")),
        Field("environments", names("Environments whose workloads may run there (default: every environment), e.g. [prod] for a production cluster.")),
        Field("region", s(.string, "Where it is (shown, and matched by nothing yet).")),
        Field("labels", stringMap),
        Field("description", s(.string, "Free text.")),
    ]))

    static let preemption = Schema.object(ObjectSchema("Which priorities may preempt running work.", [
        Field("nonPreempting", .list(s(.name, "A priority name."),
                                     description: "Priorities whose workloads never preempt (Kubernetes' preemptionPolicy: Never): they keep their place in the order but wait for capacity or quota to free up.")),
    ]))

    static let defaults = Schema.object(ObjectSchema("Platform-wide defaults.", [
        Field("priority", .object(ObjectSchema("Priority used when a workload names none, per class.",
                                               WorkloadClass.allCases.map { Field($0.rawValue, s(.name, "Priority name.")) }))),
        Field("checkpointStorage", s(.bytes, "Size of a training job's checkpoint volume (default 100Gi).")),
        Field("storageClass", s(.name, "StorageClass of checkpoint volumes.")),
    ]))

    static let metrics = Schema.object(ObjectSchema("Where rollouts' analysis reads each version's figures when not from Tarmac's own inference gateway, and where GPU telemetry is read on Kubernetes.", [
        Field("dcgmExporter", .object(ObjectSchema("dcgm-exporter's pods, read through the API server's pod proxy (GPU telemetry on Kubernetes). Unset: pods labelled app=nvidia-dcgm-exporter (the GPU operator) or app.kubernetes.io/name=dcgm-exporter, port 9400, every 10s.", [
            Field("selector", s(.string, "Label selector of its pods, like app=nvidia-dcgm-exporter.")),
            Field("namespace", s(.name, "Namespace of its pods (default: any).")),
            Field("port", s(.integer(min: 1, max: 65535), "Port of its /metrics (default 9400).")),
            Field("every", s(.duration, "How often its pages are read (default 10s; its own default collection interval is 30s).")),
        ]))),
        Field("prometheus", s(.url, "A Prometheus (its HTTP API) that scrapes the services' gateway: Tarmac's own (tarmac_inference_* metrics) unless queries say otherwise.")),
        Field("queries", .object(ObjectSchema("PromQL per measure, with $team, $service, $version, $namespace and $window (like 60s) filled in; unset ones read Tarmac's metrics.", [
            Field("requests", s(.string, "Requests answered by the version over the window.")),
            Field("errors", s(.string, "Of those, answered with a 5xx (or not at all).")),
            Field("modelErrors", s(.string, "Of the errors, the model's side.")),
            Field("p99LatencyMs", s(.string, "p99 latency in milliseconds over the window.")),
            Field("ttftMs", s(.string, "p99 time to first token in milliseconds over the window.")),
        ]))),
    ]))

    static let costs = Schema.object(ObjectSchema("Cost rates for accounting.", [
        Field("cpuCoreHour", s(.number(min: 0), "Cost of one core-hour.")),
        Field("memoryGiBHour", s(.number(min: 0), "Cost of one GiB-hour.")),
    ]))

    static let local = Schema.object(ObjectSchema("The machine `tarmac up` runs workloads on; unset values are read off the machine.", [
        Field("cpu", s(.cpu, "CPU offered to workloads (default: every core).")),
        Field("memory", s(.bytes, "Memory offered to workloads (default: all of it).")),
        Field("gpus", s(.integer(min: 0, max: 8), "GPUs offered (default: those `nvidia-smi -L` lists).")),
        Field("accelerator", s(.name, "The accelerator model of those GPUs (default: matched by product name).")),
    ]))

    static let metadata = Schema.object(ObjectSchema("Name and labels.", [
        Field("name", s(.name, "Name of this document."), required: true),
        Field("labels", stringMap),
        Field("annotations", .map(keys: .labelKey, values: s(.string, "Value."), description: "Annotations.")),
    ]))

    static var layerFields: [Field] {
        [
            Field("accelerators", .map(keys: .name, values: accelerator, description: "Accelerator models by name.")),
            Field("pools", .map(keys: .name, values: pool, description: "Node pools by name.")),
            Field("sizes", sizes),
            Field("priorities", .map(keys: .name, values: s(.integer(min: -1_000_000, max: 1_000_000_000), "Priority value."), description: "Priorities by name; higher runs first.")),
            Field("preemption", preemption),
            Field("defaults", defaults),
            Field("tools", .map(keys: .name, values: tool, description: "Tools agents may call.")),
            Field("destinations", .map(keys: .name, values: destination, description: "Network destinations.")),
            Field("datasets", .map(keys: .name, values: dataset, description: "Datasets by name.")),
            Field("costs", costs),
            Field("metrics", metrics),
            Field("local", local),
            Field("identity", identity),
        ]
    }

    public static let platform = Schema.object(ObjectSchema("A Tarmac platform contract.", header(kind: .platform) + [
        Field("metadata", metadata, required: true),
        Field("spec", .object(ObjectSchema("The contract.", [
            Field("extends", .list(s(.relativePath, "A Platform file, relative to this one."), description: "Files this one layers on, in order.")),
        ] + layerFields + [
            Field("teams", .map(keys: .name, values: team, description: "Teams by name.")),
            Field("environments", .map(keys: .name, values: environment, description: "Environments by name.")),
            Field("clusters", .list(cluster, description: "The Kubernetes clusters Tarmac drives as one platform (unset: the one cluster tarmac up is pointed at). Each workload runs on exactly one of them.")),
            Field("clusterLostTimeout", s(.duration, "How long a cluster's API server may be out of reach (or a running workload's nodes gone) before its workloads are placed on another cluster as their next attempt (default 15s).")),
        ])), required: true),
    ]))

    public static let platformOverlay = Schema.object(ObjectSchema("Values that apply in one environment, layered over the platform.",
        header(kind: .platformOverlay) + [
            Field("metadata", metadata, required: true),
            Field("spec", Schema.object(ObjectSchema("The overlay.", layerFields + [Field("guardrails", guardrails)])).partial, required: true),
        ]))

    // MARK: Workloads

    static let workloadMetadata = Schema.object(ObjectSchema("Who the workload belongs to.", [
        Field("name", s(.name, "Name, unique per team and environment (at most 52 characters)."), required: true),
        Field("team", s(.name, "Team that owns and pays for it."), required: true),
        Field("env", s(.name, "Environment it runs in."), required: true),
        Field("owner", s(.email, "Person responsible.")),
        Field("labels", stringMap),
        Field("annotations", .map(keys: .labelKey, values: s(.string, "Value."), description: "Annotations.")),
    ]))

    static let hostAccess = Forbidden(
        ["privileged", "hostNetwork", "hostPID", "hostIPC", "hostPath", "hostPort", "securityContext", "capabilities", "volumes"],
        rule: "no-host-access",
        message: "Tarmac never runs privileged pods or pods with access to the host",
        help: "remove it; for data use spec.datasets, for scratch space choose a size with ephemeralStorage")
    static let placement = Forbidden(
        ["nodeName", "nodeSelector", "affinity", "tolerations", "schedulerName"],
        rule: "placement-by-tarmac",
        message: "placement is decided by Tarmac from the size's pools",
        help: "choose a size; platform engineers map sizes to pools")
    static let rawResources = Forbidden(
        ["resources", "requests", "limits", "gpus", "cpu", "memory", "shm"],
        rule: "size-not-bytes",
        message: "workloads ask for a size, not for resources",
        help: "set spec.size to one of the platform's sizes (tarmac explain lists them)")

    static func container(_ extra: [Field]) -> [Field] {
        [
            Field("size", s(.name, "A size of this workload's class."), required: true),
            Field("image", s(.image, "Container image."), required: true),
            Field("command", strings("Entrypoint.")),
            Field("args", strings("Arguments.")),
            Field("env", .map(keys: .envVar, values: s(.string, "Value."), description: "Environment variables.")),
            Field("priority", s(.name, "A priority name of the platform.")),
            Field("egress", names("Destinations this workload needs to reach.")),
            Field("workdir", s(.string, "A directory of code on the submitter's machine (relative to this file) that `tarmac submit` uploads; each pod starts in a copy of it.")),
            Field("retryIdenticalFailures", s(.bool, "Use every attempt even when a failure repeats itself exactly (default false: two identical failures in a row end the workload).")),
        ] + extra
    }

    static let datasetMounts = Schema.list(.object(ObjectSchema("A dataset to mount.", [
        Field("name", s(.name, "Dataset name from the platform."), required: true),
        Field("mountPath", s(.absolutePath, "Where to mount it."), required: true),
    ])), description: "Datasets to mount.")

    static func workload(_ kind: DocumentKind, _ description: String, _ fields: [Field]) -> Schema {
        .object(ObjectSchema(description, header(kind: kind) + [
            Field("metadata", workloadMetadata, required: true),
            Field("spec", .object(ObjectSchema("What to run.", container(fields), forbidden: [hostAccess, placement, rawResources])), required: true),
        ]))
    }

    public static let trainingJob = workload(.trainingJob, "A gang of workers that start together or not at all.", [
        Field("workers", s(.integer(min: 1, max: 4096), "Number of workers (pods), default 1.")),
        Field("datasets", datasetMounts),
        Field("checkpoint", .object(ObjectSchema("Where the job writes checkpoints, so preemption loses little.", [
            Field("path", s(.absolutePath, "Checkpoint directory."), required: true),
            Field("interval", s(.duration, "How often the job checkpoints.")),
        ]))),
        Field("maxDuration", s(.duration, "Deadline after which the job is stopped.")),
    ])

    public static let batchJob = workload(.batchJob, "An array of independent tasks, each retried on its own.", [
        Field("tasks", s(.integer(min: 1, max: 100_000), "Number of tasks (default 1).")),
        Field("parallelism", s(.integer(min: 1, max: 10_000), "Tasks running at once (default: all).")),
        Field("maxRetries", s(.integer(min: 0, max: 20), "Retries per task (default 3).")),
        Field("datasets", datasetMounts),
        Field("maxDuration", s(.duration, "Deadline for the whole job.")),
    ])

    public static let inferenceService = workload(.inferenceService, "A long-running model server.", [
        Field("model", s(.model, "Model as name@version."), required: true),
        Field("replicas", s(.replicas, "Replicas: a number or min..max (default 1).")),
        Field("port", s(.integer(min: 1, max: 65535), "Port the server listens on (default 8080).")),
        Field("rollbackTarget", s(.model, "Version to return to if this one misbehaves (name@version).")),
        Field("rollout", rollout),
        Field("datasets", datasetMounts),
    ])

    static let analysisRule = Schema.object(ObjectSchema("A condition on the new version's measurements over each analysis window.", [
        Field("metric", s(.oneOf(["successRate", "p99LatencyMs", "timeToFirstTokenMs"]), "successRate (at least), p99LatencyMs or timeToFirstTokenMs (at most)."), required: true),
        Field("threshold", s(.number(min: 0), "The bound: a share 0..1 for successRate, milliseconds for the latencies."), required: true),
        Field("minRequests", s(.integer(min: 1, max: 1_000_000), "Fewer requests in a window: no verdict yet (default 50).")),
    ]))

    static let rollout = Schema.object(ObjectSchema("How a new model version takes over when this document replaces a running service's (submitting it again with another model starts the rollout).", [
        Field("strategy", s(.oneOf(["canary", "blueGreen"]), "canary (default): the new version's share grows step by step; blueGreen: measured on preview requests, then all at once.")),
        Field("steps", strings("Canary steps: a share (10 or 10%), 'analysis 60s', 'pause 30s', 'pause' (until promoted). Default: 10, analysis 60s, 50, analysis 60s.")),
        Field("rules", .list(analysisRule, description: "Analysis rules: a failed rule rolls back, all passing promote.")),
        Field("rollbackWindow", s(.duration, "How long the previous version stays warm after a promotion (default 1h).")),
        Field("previewWindow", s(.duration, "Blue-green: how long the new version is measured on preview requests before the switch (default 5m).")),
    ]))

    public static let agent = workload(.agent, "A long-running service that calls tools.", [
        Field("tools", .map(keys: .name, values: strings("Scopes requested."), description: "Tools the agent calls, each with the scopes it needs.")),
        Field("onBehalfOf", s(.email, "The person the agent acts for.")),
    ])

    public static func schema(for kind: DocumentKind) -> Schema {
        switch kind {
        case .platform: platform
        case .platformOverlay: platformOverlay
        case .trainingJob: trainingJob
        case .batchJob: batchJob
        case .inferenceService: inferenceService
        case .agent: agent
        }
    }
}
