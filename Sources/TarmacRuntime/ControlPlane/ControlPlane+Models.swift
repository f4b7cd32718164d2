import TarmacCore
import TarmacDelivery
import TarmacMetering
import TarmacModel
import TarmacPlanning

/// What the model registry asks of the control plane: which model versions serve now.
extension ControlPlane {
    /// The models the running InferenceServices of a team and environment serve (as their documents name them).
    public func servingModels(team: String, env: String) -> [ModelReference] {
        tracked.live.compactMap { id -> ModelReference? in
            guard let t = tracked[id], t.entry.team == team, t.entry.env == env, t.entry.state == .running,
                  case .inference(let d)? = t.plan?.workload.details else { return nil }
            return d.model
        }
    }
}

/// A running InferenceService as the inference gateway routes to it.
public struct ServedService: Sendable, Hashable {
    public var team: String
    public var env: String
    public var name: String
    public var workload: String
    public var model: ModelReference
    /// `http://HOST:PORT` of each replica (as the backend says).
    public var endpoints: [String]

    public init(team: String, env: String, name: String, workload: String, model: ModelReference, endpoints: [String]) {
        self.team = team
        self.env = env
        self.name = name
        self.workload = workload
        self.model = model
        self.endpoints = endpoints
    }
}

extension ControlPlane {
    /// Every running InferenceService with where its replicas answer, oldest first.
    public func servedServices() async -> [ServedService] {
        var out: [ServedService] = []
        let running = tracked.live.compactMap { id -> (WorkloadEntry, ModelReference)? in
            guard let t = tracked[id], t.entry.state == .running, case .inference(let d)? = t.plan?.workload.details else { return nil }
            return (t.entry, d.model)
        }.sorted { $0.0.createdAt < $1.0.createdAt }
        for (e, model) in running {
            let endpoints = await backend.endpoints(workload: e.id, attempt: e.attempt, pods: e.podCount)
            out.append(ServedService(team: e.team, env: e.env, name: e.name, workload: e.id, model: model, endpoints: endpoints))
        }
        return out
    }
}

extension ControlPlane {
    /// One file of the model a workload serves, for one of its pods (its attempt's credential: the model's init
    /// container on Kubernetes) or a person who may read its team: the team whose store keeps it, and its manifest entry.
    public func modelFile(of ref: String, path: String, by principal: Principal?, workloadToken: String?) async throws -> (team: String, file: ModelManifest.File) {
        let (e, _) = try caller(for: ref, by: principal, workloadToken: workloadToken)
        guard let plan = tracked[e.id]?.plan, let mount = await modelMount(plan, team: e.team) else {
            throw RuntimeError(.notFound, "workload \(e.name) serves no model whose files Tarmac keeps")
        }
        guard let file = mount.files.first(where: { $0.path == path }) else {
            throw RuntimeError(.notFound, "\(mount.reference) has no file '\(path)' (\(mount.files.count) files: \(mount.files.prefix(5).map(\.path).joined(separator: ", "))\(mount.files.count > 5 ? ", ..." : ""))")
        }
        return (mount.team, file)
    }

    /// The registered files of the model an InferenceService serves, when the team's registry has that version (by
    /// number or alias) and Tarmac keeps its files; nil otherwise (the model server finds its model itself).
    func modelMount(_ plan: WorkloadPlan, team: String) async -> ModelMount? {
        guard case .inference(let d) = plan.workload.details else { return nil }
        do {
            let versions = try await store.modelVersions(team: team, model: d.model.name)
            guard !versions.isEmpty else { return nil }
            var found: ModelVersion?
            if case .success(let v) = SemanticVersion.parse(d.model.version) {
                found = versions.first { $0.version.hasSamePrecedence(as: v) }
            }
            if found == nil, let a = try await store.aliases(team: team, model: d.model.name).first(where: { $0.name == d.model.version }) {
                found = versions.first { $0.version == a.version }
            }
            guard let v = found, case .stored = v.artifact else { return nil }
            return ModelMount(reference: v.reference, team: v.team, manifestDigest: v.manifest.digest, files: v.manifest.files)
        } catch {
            logger.warning("the model registry could not be read", metadata: ["model": "\(d.model)", "error": "\(error)"])
            return nil
        }
    }
}

extension ControlPlane {
    /// The ledger attributes of these workloads (name, team, env, kind, submitter, accelerator, served model), for
    /// what the inference gateway counts against them; unknown ids are left out.
    public func usageAttributes(_ ids: [String]) -> [String: UsageRow] {
        var out: [String: UsageRow] = [:]
        for id in ids {
            guard let t = tracked[id] else { continue }
            let e = t.entry
            var model: String?
            if case .inference(let d)? = t.plan?.workload.details { model = d.model.description }
            out[id] = UsageRow(day: "", workload: id, name: e.name, team: e.team, env: e.env, kind: e.kind, user: e.submittedBy, model: model,
                               accelerator: t.plan?.size.accelerator, gpuSeconds: 0, cpuSeconds: 0, memoryGiBSeconds: 0)
        }
        return out
    }

    /// Running services among `workloads` (those with a ready replica behind the gateway), with their attempt and start.
    public func readyServices(_ workloads: Set<String>) -> [ReadyService] {
        workloads.compactMap { id in
            guard let e = tracked[id]?.entry, e.state == .running else { return nil }
            return ReadyService(workload: id, attempt: e.attempt, startedAt: e.startedAt)
        }.sorted { $0.workload < $1.workload }
    }
}
