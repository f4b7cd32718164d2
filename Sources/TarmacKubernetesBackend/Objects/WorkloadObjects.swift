import TarmacCore
import TarmacDelivery
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel
import TarmacPlanning

/// The Kubernetes objects of one workload as the backend drives them: `tarmac render`'s objects, each labelled with the
/// workload's id, and a controller (Job or Deployment) that is either held (suspended Job, Deployment at zero replicas)
/// or running one attempt pinned to the nodes the engine chose. Pure: the same input gives the same objects.
public struct WorkloadObjects: Sendable {
    public let id: String
    public let workload: Workload
    public let namespace: String
    /// Everything besides the controller: ServiceAccount, Services, PersistentVolumeClaims, NetworkPolicies.
    public let supporting: [KubeObject]
    let controllerBase: KubeObject
    public let memoryLimitBytes: Int64
    public let containerName: String

    /// The objects of a workload as resolved at submit (its plan), under the contract in force now.
    public init(id: String, plan: WorkloadPlan, contract: Contract, options: RenderOptions = RenderOptions()) throws(BackendRejection) {
        let w = plan.workload, size = plan.size
        let rendered = WorkloadRenderer.render(plan, contract: contract, options: options)
        var supporting: [KubeObject] = []
        var controller: KubeObject?
        for var o in rendered {
            o.labels[Naming.workloadIDLabel] = id
            switch o.kind {
            case "Job", "Deployment": controller = o
            // The HPA scales the Deployment; replicas beyond the admitted ones wait behind the placement gate until the
            // engine admits them (quota and placement), so autoscaling never overcommits.
            default: supporting.append(o)
            }
        }
        guard let controller else { throw BackendRejection("workload \(w.metadata.name) renders no Job or Deployment") }
        self.id = id
        self.workload = w
        self.namespace = Naming.namespace(team: w.metadata.team, env: w.metadata.env)
        self.supporting = supporting
        self.controllerBase = controller
        self.memoryLimitBytes = size.memory.bytes
        self.containerName = controller.body["spec"]?["template"]?["spec"]?["containers"]?.list?.first?["name"]?.string ?? "main"
    }

    public var isJob: Bool { controllerBase.kind == "Job" }
    public var podCount: Int { workload.podCount }
    public var controllerName: String { controllerBase.name }
    public var controllerPath: String { ResourcePath.of(controllerBase) }

    /// Every object, the controller held: what exists while the workload waits in the queue.
    public var queued: [KubeObject] { supporting + [controller(attempt: 0, nodes: nil)] }

    /// The controller for one attempt. `nodes` nil: held (a suspended Job, a Deployment at zero replicas). Otherwise
    /// running, with the node of each pod slot in an annotation. Its pods are always created behind a scheduling gate:
    /// the backend pins each one to its slot's node and removes the gate (`PodPinning`), so admitted means placed exactly.
    public func controller(attempt: Int, nodes: [String]?, checkpoint: Bool = false, workdir: Bool = false, model: ModelMount? = nil) -> KubeObject {
        var o = controllerBase
        o.annotations[Naming.attemptLabel] = String(attempt)
        if let nodes { o.annotations[PodPinning.placementAnnotation] = nodes.joined(separator: ",") }
        guard var spec = o.body["spec"], var template = spec["template"] else { return o }
        var labels = template["metadata"]?["labels"] ?? [:]
        labels[Naming.workloadIDLabel] = .string(id)
        labels[Naming.attemptLabel] = .string(String(attempt))
        template["metadata"]?["labels"] = labels
        if var podSpec = template["spec"] {
            podSpec["schedulingGates"] = [["name": .string(PodPinning.gate)]]
            // Where and with what the pods report checkpoints: the credential from this attempt's Secret, never inline.
            if checkpoint, case .list(var containers)? = podSpec["containers"] {
                for i in containers.indices {
                    guard case .object(var c) = containers[i] else { continue }
                    var env = c["env"]?.list ?? []
                    env.removeAll { ["TARMAC_CHECKPOINT_URL", "TARMAC_CHECKPOINT_TOKEN", "TARMAC_IDENTITY_URL", "TARMAC_GATEWAY_URL"].contains($0["name"]?.string ?? "") }
                    let ref: KValue = ["name": .string(checkpointSecretName), "key": "url"]
                    env.append(["name": "TARMAC_CHECKPOINT_URL", "valueFrom": ["secretKeyRef": ref]])
                    env.append(["name": "TARMAC_CHECKPOINT_TOKEN", "valueFrom": ["secretKeyRef": ["name": .string(checkpointSecretName), "key": "token"]]])
                    // Where the pod exchanges its identity token (TARMAC_IDENTITY_TOKEN_FILE) for JWT-SVIDs.
                    env.append(["name": "TARMAC_IDENTITY_URL", "valueFrom": ["secretKeyRef": ["name": .string(checkpointSecretName), "key": "identity", "optional": true]]])
                    // Where it calls tools (`tarmac up --gateway-url`).
                    env.append(["name": "TARMAC_GATEWAY_URL", "valueFrom": ["secretKeyRef": ["name": .string(checkpointSecretName), "key": "gateway", "optional": true]]])
                    c["env"] = .list(env)
                    containers[i] = .object(c)
                }
                podSpec["containers"] = .list(containers)
            }
            // The working directory: an init container fetches it from the control plane with the attempt's credential
            // (from the same Secret) into an emptyDir, where the workload's containers start.
            if workdir, case .list(var containers)? = podSpec["containers"] {
                let ref = { (key: String) -> KValue in ["secretKeyRef": ["name": .string(checkpointSecretName), "key": .string(key)]] }
                let fetch: KValue = [
                    "name": "tarmac-workdir",
                    "image": .string(Self.workdirImage),
                    "command": ["sh", "-c", "wget -q -O - --header \"Authorization: Bearer $TARMAC_WORKDIR_TOKEN\" \"$TARMAC_WORKDIR_URL\" | tar -x -C /workspace"],
                    "env": [["name": "TARMAC_WORKDIR_URL", "valueFrom": ref("workdir")], ["name": "TARMAC_WORKDIR_TOKEN", "valueFrom": ref("token")]],
                    "volumeMounts": [["name": "tarmac-workdir", "mountPath": "/workspace"]],
                    "securityContext": PodTemplate.containerSecurity,
                    "resources": ["requests": ["cpu": "100m", "memory": "64Mi"], "limits": ["cpu": "100m", "memory": "64Mi"]],
                ]
                podSpec["initContainers"] = .list((podSpec["initContainers"]?.list ?? []).filter { $0["name"]?.string != "tarmac-workdir" } + [fetch])
                var volumes = (podSpec["volumes"]?.list ?? []).filter { $0["name"]?.string != "tarmac-workdir" }
                volumes.append(["name": "tarmac-workdir", "emptyDir": ["sizeLimit": "1Gi"]])
                podSpec["volumes"] = .list(volumes)
                for i in containers.indices {
                    guard case .object(var c) = containers[i] else { continue }
                    var mounts = (c["volumeMounts"]?.list ?? []).filter { $0["name"]?.string != "tarmac-workdir" }
                    mounts.append(["name": "tarmac-workdir", "mountPath": "/workspace"])
                    c["volumeMounts"] = .list(mounts)
                    c["workingDir"] = "/workspace"
                    containers[i] = .object(c)
                }
                podSpec["containers"] = .list(containers)
            }
            // A model Tarmac keeps: an init container fetches each of its files with the attempt's credential and checks
            // its digest before the server starts (ModelTampered when one differs); the server reads them at MODEL_DIR.
            if let model, checkpoint, case .list(var containers)? = podSpec["containers"] {
                let ref = { (key: String) -> KValue in ["secretKeyRef": ["name": .string(checkpointSecretName), "key": .string(key)]] }
                let fetch: KValue = [
                    "name": .string(Self.modelInit),
                    "image": .string(Self.workdirImage),
                    "command": ["sh", "-c", .string(Self.modelFetchScript(model.files))],
                    "env": [["name": "TARMAC_MODEL_URL", "valueFrom": ref("model")], ["name": "TARMAC_MODEL_TOKEN", "valueFrom": ref("token")]],
                    "volumeMounts": [["name": .string(Self.modelInit), "mountPath": .string(Self.modelDir)]],
                    "securityContext": PodTemplate.containerSecurity,
                    "resources": ["requests": ["cpu": "100m", "memory": "64Mi"], "limits": ["cpu": "500m", "memory": "64Mi"]],
                ]
                podSpec["initContainers"] = .list((podSpec["initContainers"]?.list ?? []).filter { $0["name"]?.string != Self.modelInit } + [fetch])
                var volumes = (podSpec["volumes"]?.list ?? []).filter { $0["name"]?.string != Self.modelInit }
                let bytes = model.files.map(\.size).reduce(0, +)
                volumes.append(["name": .string(Self.modelInit), "emptyDir": ["sizeLimit": .string("\(max(1, (bytes + bytes / 10 + (1 << 20) - 1) >> 20))Mi")]])
                podSpec["volumes"] = .list(volumes)
                for i in containers.indices {
                    guard case .object(var c) = containers[i] else { continue }
                    var mounts = (c["volumeMounts"]?.list ?? []).filter { $0["name"]?.string != Self.modelInit }
                    mounts.append(["name": .string(Self.modelInit), "mountPath": .string(Self.modelDir), "readOnly": true])
                    c["volumeMounts"] = .list(mounts)
                    var env = (c["env"]?.list ?? []).filter { $0["name"]?.string != "MODEL_DIR" }
                    env.append(["name": "MODEL_DIR", "value": .string(Self.modelDir)])
                    c["env"] = .list(env)
                    containers[i] = .object(c)
                }
                podSpec["containers"] = .list(containers)
            }
            template["spec"] = podSpec
        }
        spec["template"] = template
        if isJob {
            spec["suspend"] = .bool(nodes == nil)
        } else {
            spec["replicas"] = .int(nodes?.count ?? 0)
        }
        o.body["spec"] = spec
        return o
    }

    /// The init container that fetches and checks a model's files, and where the server finds them.
    public static let modelInit = "tarmac-model"
    public static let modelDir = "/models"
    /// Its exit code when a file's bytes are not the registered ones (triaged ModelTampered).
    public static let modelTamperedExit = 3

    /// The init container's script: each file fetched from `$TARMAC_MODEL_URL/PATH` with the attempt's credential, then
    /// its SHA-256 checked against the registered one; a failed fetch exits 2, a digest that differs exits 3 naming the
    /// file. Plain POSIX sh with wget and sha256sum (busybox has both).
    public static func modelFetchScript(_ files: [ModelManifest.File]) -> String {
        let q = { (s: String) in "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var lines = [
            "set -eu",
            "cd \(modelDir)",
            "fetch() {",
            "  mkdir -p \"$(dirname \"$1\")\"",
            "  wget -q -O \"$1\" --header \"Authorization: Bearer $TARMAC_MODEL_TOKEN\" \"$TARMAC_MODEL_URL/$1\" || { echo \"tarmac: model file $1 could not be fetched\" >&2; exit 2; }",
            "  echo \"$2  $1\" | sha256sum -c - >/dev/null 2>&1 || { echo \"ModelTampered: $1 is not the registered bytes (sha256:$2)\" >&2; exit \(modelTamperedExit); }",
            "}",
        ]
        for f in files { lines.append("fetch \(q(f.path)) \(q(f.sha256))") }
        lines.append("echo \"tarmac: \(files.count) model files fetched and checked\"")
        return lines.joined(separator: "\n")
    }

    /// The Secret that holds the current attempt's checkpoint credential and the URL to report to.
    public var checkpointSecretName: String { controllerName + "-tarmac-checkpoint" }

    /// The image of the init container that fetches a working directory (it needs `sh`, `wget` and `tar`).
    public static let workdirImage = "docker.io/library/busybox:1.36"

    /// The attempt's credential, where to report checkpoints, and (when there are) where to fetch its working directory,
    /// obtain its identity and call tools.
    public func checkpointSecret(url: String, token: String, workdirURL: String? = nil, identityURL: String? = nil, gatewayURL: String? = nil,
                                 modelURL: String? = nil) -> KubeObject {
        var data: [String: KValue] = ["url": .string(url), "token": .string(token)]
        if let workdirURL { data["workdir"] = .string(workdirURL) }
        if let modelURL { data["model"] = .string(modelURL) }
        if let identityURL { data["identity"] = .string(identityURL) }
        if let gatewayURL { data["gateway"] = .string(gatewayURL) }
        return KubeObject("v1", "Secret", name: checkpointSecretName, namespace: namespace, labels: [Naming.workloadIDLabel: id],
                          body: ["type": "Opaque", "stringData": .object(data)])
    }

    /// The pod slot (0..<podCount) a Job pod's completion index belongs to: batch jobs run their tasks `parallelism` at a time.
    public func slot(ofIndex index: Int) -> Int { index % max(1, podCount) }
}
