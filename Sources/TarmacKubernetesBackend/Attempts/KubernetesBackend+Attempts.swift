import Foundation
import TarmacCore
import TarmacKubernetes
import TarmacManifests

/// Attempts: an admitted attempt's controller released and pinned to the engine's nodes, stopped, resized; its start
/// reported once every slot runs.
extension KubernetesBackend {
    public func launch(_ pods: [PodLaunch]) async throws {
        guard let first = pods.first else { return }
        let id = first.workload, attempt = first.attempt
        guard let record = workloads[id] else { throw BackendRejection("workload \(id) is not known to the Kubernetes backend") }
        let o = record.objects
        // Nothing of it exists yet (registered, not accepted here): its objects are created below, the controller at
        // once in its launched form (one request instead of a held create and an apply).
        let fresh = !record.prepared && controller(of: o) == nil
        if !record.prepared && !fresh {
            try await ensure(o.supporting, for: o)
            workloads[id]?.prepared = true
        }
        if let previous = record.launched, previous != attempt { await keepLogs(id, attempt: previous) }
        let slots = max(o.podCount, (pods.map(\.pod).max() ?? -1) + 1)
        var nodes = Array(repeating: "", count: slots)
        if record.nodes.count == slots, record.launched == attempt { nodes = record.nodes }
        for p in pods where p.pod < nodes.count { nodes[p.pod] = p.placement.node }
        guard !nodes.contains("") else { throw KubernetesBackendError("workload \(id) attempt \(attempt): no node for every pod slot") }
        // The checkpoint credential of this attempt (given when the control plane has a URL pods can reach).
        var checkpoint = false
        var workdir = false
        if let url = first.environment["TARMAC_CHECKPOINT_URL"], let token = first.environment["TARMAC_CHECKPOINT_TOKEN"] {
            // .../v1/workloads/ID/checkpoint -> .../v1/workloads/ID/workdir
            let workdirURL = first.workdir.map { _ in String(url.dropLast("checkpoint".count)) + "workdir" }
            workdir = workdirURL != nil
            // .../v1/workloads/ID/model: where its init container fetches a model Tarmac keeps.
            let modelURL = first.model.map { _ in String(url.dropLast("checkpoint".count)) + "model" }
            let secret = o.checkpointSecret(url: url, token: token, workdirURL: workdirURL, identityURL: first.environment["TARMAC_IDENTITY_URL"],
                                            gatewayURL: first.environment["TARMAC_GATEWAY_URL"], modelURL: modelURL)
            do { _ = try await client.apply(ResourcePath.of(secret), secret.json) } catch let e as KubeError where [400, 403, 404, 422].contains(e.code) {
                throw BackendRejection("the cluster refused Secret \(o.namespace)/\(secret.name): \(e.message)")
            }
            checkpoint = true
        }
        if first.workdir != nil && !workdir {
            throw BackendRejection("the workload has a working directory, but its pods cannot fetch it: start tarmac up with --advertise-url set to a URL the cluster's pods reach")
        }
        if first.model != nil && !checkpoint {
            throw BackendRejection("the service serves a model Tarmac keeps, but its pods cannot fetch it: start tarmac up with --advertise-url set to a URL the cluster's pods reach")
        }
        let desired = o.controller(attempt: attempt, nodes: nodes, checkpoint: checkpoint, workdir: workdir, model: first.model)
        if fresh {
            let existed = try await ensure(o.supporting + [desired], for: o)
            workloads[id]?.prepared = true
            // Created as launched, unless it turned out to exist already (then it is pointed at this attempt below).
            if !existed.contains(o.controllerPath) {
                workloads[id]?.launched = attempt
                workloads[id]?.nodes = nodes
                workloads[id]?.stopping[attempt] = nil
                return
            }
        }
        let live = controller(of: o)
        // A Job that finished, or ran under another attempt, cannot be re-pointed: it is replaced.
        if o.isJob, let live, Self.isFinished(live) || (AttemptStatus.annotations(live)[Naming.attemptLabel] != String(attempt) && Self.hasStarted(live)) {
            try await replace(o)
        }
        do {
            _ = try await client.apply(o.controllerPath, desired.json)
        } catch let e as KubeError where e.code == 422 && o.isJob {
            // The pod template of a Job that has run is immutable until its controller records the suspension.
            logger.info("replacing the Job to re-point it", metadata: ["workload": "\(id)", "error": "\(e.message)"])
            try await replace(o)
            _ = try await client.apply(o.controllerPath, desired.json)
        } catch let e as KubeError where [400, 403, 404, 422].contains(e.code) {
            throw BackendRejection("the cluster refused \(desired.kind) \(o.namespace)/\(o.controllerName): \(e.message)")
        }
        workloads[id]?.launched = attempt
        workloads[id]?.nodes = nodes
        workloads[id]?.stopping[attempt] = nil
    }

    /// The workload's Job or Deployment as the cache has it.
    func controller(of o: WorkloadObjects) -> [String: Any]? { (o.isJob ? cache[.jobs] : cache[.deployments])[o.id] }

    /// Deletes the controller (its pods with it) and waits until the name is free.
    func replace(_ o: WorkloadObjects) async throws {
        try await client.delete(o.controllerPath)
        for _ in 0..<120 {
            do { _ = try await client.get(o.controllerPath) } catch let e as KubeError where e.isNotFound { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw KubernetesBackendError("\(o.controllerPath) was not deleted within 30 s")
    }

    static func isFinished(_ job: [String: Any]) -> Bool {
        ((job["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []).contains {
            ["Complete", "Failed"].contains($0["type"] as? String ?? "") && $0["status"] as? String == "True"
        }
    }

    static func hasStarted(_ job: [String: Any]) -> Bool { (job["status"] as? [String: Any])?["startTime"] != nil }

    public func stop(workload: String, attempt: Int) async {
        guard let o = workloads[workload]?.objects else { return }
        workloads[workload]?.stopping[attempt] = clock.now
        do {
            _ = try await client.mergePatch(o.controllerPath, o.isJob ? ["spec": ["suspend": true]] : ["spec": ["replicas": 0]])
        } catch let e as KubeError where e.isNotFound {
        } catch {
            logger.error("could not stop a workload", metadata: ["workload": "\(workload)", "error": "\(error)"])
        }
    }

    /// The pods of the workloads it drives, by workload id.
    func podsByWorkload() -> [String: [[String: Any]]] {
        var byWorkload: [String: [[String: Any]]] = [:]
        for p in cache[.pods].values {
            if let id = AttemptStatus.labels(p)[Naming.workloadIDLabel], workloads[id] != nil { byWorkload[id, default: []].append(p) }
        }
        return byWorkload
    }

    /// Pins each gated pod of a running attempt to its slot's node and lets the scheduler have it: up to
    /// `options.pinConcurrency` PATCHes in flight (the API server's priority and fairness answers 429 with Retry-After
    /// beyond what it admits, and the client waits as told).
    func pinGatedPods(_ byWorkload: [String: [[String: Any]]]) async {
        var patches: [(name: String, path: String, node: String, body: Data)] = []
        for (id, r) in workloads {
            guard let attempt = r.running else { continue }
            let o = r.objects
            let pods = (byWorkload[id] ?? []).filter { AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && !ClusterInventory.isFinished($0) }
            for p in pods where !PodPinning.isGated(p) { pinning.remove(AttemptStatus.name(p)) }
            for (name, node) in PodPinning.assign(placement: r.nodes, pods: pods, isJob: o.isJob) where !pinning.contains(name) {
                guard let pod = pods.first(where: { AttemptStatus.name($0) == name }),
                      let body = try? JSONSerialization.data(withJSONObject: PodPinning.patch(pod, to: node)) else { continue }
                patches.append((name, "/api/v1/namespaces/\(o.namespace)/pods/\(name)", node, body))
            }
        }
        guard !patches.isEmpty else { return }
        // Marked before they are sent: a poll that comes in meanwhile does not send them again.
        pinning.formUnion(patches.map(\.name))
        let client = self.client, logger = self.logger
        let width = max(1, options.pinConcurrency)
        let pinned = await withTaskGroup(of: String?.self) { group in
            var next = 0, out: [String] = []
            func add() {
                let p = patches[next]
                next += 1
                group.addTask {
                    do {
                        _ = try await client.mergePatch(p.path, body: p.body)
                        return p.name
                    } catch let e as KubeError where e.isNotFound {
                        return p.name
                    } catch {
                        logger.warning("could not pin a pod to its node; retrying", metadata: ["pod": "\(p.path)", "node": "\(p.node)", "error": "\(error)"])
                        return nil
                    }
                }
            }
            while next < min(width, patches.count) { add() }
            for await name in group {
                if let name { out.append(name) }
                if next < patches.count { add() }
            }
            return out
        }
        // A pin that failed is sent again at the next poll (a pod gone is not).
        let failed = Set(patches.map(\.name)).subtracting(pinned)
        pinning.subtract(failed)
    }

    public nonisolated var reportsStarts: Bool { true }

    /// The replicas each running Deployment is scaled to (by its HPA, or anyone), and where its placed replicas run.
    public func desiredReplicas() async -> [String: ReplicaDemand] {
        let byWorkload = podsByWorkload()
        var out: [String: ReplicaDemand] = [:]
        for (id, r) in workloads {
            guard let attempt = r.running, !r.objects.isJob, let live = cache[.deployments][id],
                  let replicas = (live["spec"] as? [String: Any])?["replicas"] as? Int else { continue }
            let placed = (byWorkload[id] ?? []).filter {
                AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && !PodPinning.isGated($0) && !ClusterInventory.isFinished($0)
                    && ($0["metadata"] as? [String: Any])?["deletionTimestamp"] == nil
            }
            out[id] = ReplicaDemand(replicas: replicas, runningOn: placed.compactMap { PodPinning.node(of: $0) }.sorted())
        }
        return out
    }

    /// New slot nodes for a running attempt: gated pods are pinned against them from now on, and the controller's
    /// annotation keeps them for a restart.
    public func resize(workload id: String, attempt: Int, nodes: [String]) async throws {
        guard let r = workloads[id], r.launched == attempt else { return }
        workloads[id]?.nodes = nodes
        _ = try await client.mergePatch(r.objects.controllerPath, ["metadata": ["annotations": [PodPinning.placementAnnotation: nodes.joined(separator: ",")]]])
    }

    /// Attempts whose every pod slot has a pod bound and running (or already succeeded).
    public func started() async -> [AttemptRef] {
        let byWorkload = podsByWorkload()
        var out: [AttemptRef] = []
        for (id, r) in workloads {
            guard let attempt = r.running, !r.started.contains(attempt) else { continue }
            let o = r.objects
            let pods = (byWorkload[id] ?? []).filter {
                AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && ["Running", "Succeeded"].contains(($0["status"] as? [String: Any])?["phase"] as? String ?? "")
                    && PodPinning.node(of: $0) != nil
            }
            let slots = o.isJob ? Set(pods.compactMap { AttemptStatus.index($0).map(o.slot(ofIndex:)) }).count : pods.count
            if slots >= o.podCount {
                workloads[id]?.started.insert(attempt)
                // The gang runs from its last pod's start, by the pods' own record.
                let starts = AttemptStatus.slotTimes(objects: o, attempt: attempt, pods: pods).values.map(\.start)
                out.append(AttemptRef(workload: id, attempt: attempt, at: starts.contains(nil) ? nil : starts.compactMap { $0 }.max()))
            }
        }
        return out
    }
}
