import Foundation
import TarmacCore
import TarmacKubernetes
import TarmacManifests

/// What exists in the cluster for which workload: adoption at start, objects created held when a workload is
/// accepted, everything removed when it ends.
extension KubernetesBackend {
    public func reconcile(_ active: [ActiveWorkload]) async throws {
        var ids = Set<String>()
        for a in active {
            ids.insert(a.id)
            do { workloads[a.id] = WorkloadRecord(objects: try WorkloadObjects(id: a.id, plan: a.plan, contract: contract)) } catch {
                logger.error("cannot render a stored workload", metadata: ["workload": "\(a.id)", "error": "\(error)"])
            }
        }
        // What belongs to no live workload goes: a crash between the store and the cluster leaves nothing behind. What
        // belongs to a live one is noted, so that its objects are not asked for one by one below.
        var removed = 0
        var present = Set<String>()
        for (api, kind) in Self.ownedKinds {
            let (items, _) = try await client.list(ResourcePath.group(api) + "/" + ResourcePath.plural(kind) + "?labelSelector=" + Naming.workloadIDLabel)
            for item in items {
                guard let owner = AttemptStatus.labels(item)[Naming.workloadIDLabel] else { continue }
                let path = ResourcePath.object(apiVersion: api, kind: kind, name: AttemptStatus.name(item), namespace: AttemptStatus.namespace(item))
                if ids.contains(owner) {
                    present.insert(owner + " " + path)
                    continue
                }
                try await client.delete(path)
                removed += 1
            }
        }
        if removed > 0 { logger.notice("removed objects of workloads that no longer exist", metadata: ["objects": "\(removed)"]) }
        // Queued workloads have their held objects (created again if a crash came first; the ones listed above as
        // theirs are there already).
        for a in active where !a.holdsCapacity && options.prepareQueued {
            guard let o = workloads[a.id]?.objects else { continue }
            do {
                try await ensure(o.queued.filter { !present.contains(a.id + " " + ResourcePath.of($0)) }, for: o)
                workloads[a.id]?.prepared = true
            } catch {
                logger.warning("could not create a queued workload's objects; retried at admission", metadata: ["workload": "\(a.id)", "error": "\(error)"])
            }
        }
    }

    static let ownedKinds: [(String, String)] = [
        ("batch/v1", "Job"), ("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"), ("networking.k8s.io/v1", "NetworkPolicy"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("v1", "Secret"),
    ]

    public func accept(_ w: ActiveWorkload) async throws {
        let o = try WorkloadObjects(id: w.id, plan: w.plan, contract: contract)
        workloads[w.id] = WorkloadRecord(objects: o)
        try await ensure(o.queued, for: o)
        workloads[w.id]?.prepared = true
    }

    /// Creates each object that does not exist. One left by an earlier workload of the same name is deleted first; a
    /// refusal by the cluster (admission, validation, a missing namespace) is the workload's rejection.
    /// Returns the paths of the objects that already existed (as this workload's).
    @discardableResult
    func ensure(_ objects: [KubeObject], for w: WorkloadObjects) async throws -> Set<String> {
        var existed = Set<String>()
        for o in objects {
            let collection = ResourcePath.collection(apiVersion: o.apiVersion, kind: o.kind, namespace: o.namespace)
            var tries = 0
            while true {
                tries += 1
                do {
                    _ = try await client.create(collection, o.json)
                    break
                } catch let e as KubeError where e.isConflict {
                    let live = try? await client.get(ResourcePath.of(o))
                    let owner = live.flatMap { AttemptStatus.labels($0)[Naming.workloadIDLabel] }
                    if owner == w.id {
                        existed.insert(ResourcePath.of(o))
                        break
                    }
                    guard tries < 60 else { throw BackendRejection("\(o.kind) \(o.namespace ?? "")/\(o.name) exists and belongs to \(owner.map { "workload \($0)" } ?? "no Tarmac workload")") }
                    if owner == nil && live != nil {
                        throw BackendRejection("\(o.kind) \(o.namespace ?? "")/\(o.name) already exists and was not created by Tarmac; rename the workload or remove the object")
                    }
                    // An earlier workload's object of the same name: gone for good, or on its way out.
                    if let owner, workloads[owner] == nil { try await client.delete(ResourcePath.of(o)) }
                    try await Task.sleep(for: .milliseconds(500))
                } catch let e as KubeError where [400, 403, 404, 422].contains(e.code) {
                    throw BackendRejection("the cluster refused \(o.kind) \(o.namespace ?? "")/\(o.name): \(e.message)")
                }
            }
        }
        return existed
    }

    /// Knows a workload without creating anything yet: its objects are created, in their launched form, when an attempt
    /// is launched here (a cluster of several, where only the one a workload is placed on gets its objects).
    public func register(_ w: ActiveWorkload) throws {
        guard workloads[w.id] == nil else { return }
        workloads[w.id] = WorkloadRecord(objects: try WorkloadObjects(id: w.id, plan: w.plan, contract: contract))
    }

    /// Forgets an ended workload at once; its logs are copied and its objects deleted in the background (`endings`).
    public func release(workload: String) async {
        guard let r = workloads[workload] else { return }
        let o = r.objects
        let logs = r.launched.map { logCopies(workload, attempt: $0) } ?? []
        let objects = (o.supporting + [o.controller(attempt: 0, nodes: nil), o.checkpointSecret(url: "", token: "")]).map(ResourcePath.of)
        let client = self.client, logger = self.logger
        await endings.enqueue {
            await Self.copy(logs, client: client)
            for path in objects {
                do { try await client.delete(path) } catch {
                    logger.error("could not delete an object of an ended workload", metadata: ["object": "\(path)", "error": "\(error)"])
                }
            }
        }
        workloads[workload] = nil
    }
}
