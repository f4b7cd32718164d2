import TarmacCore
import Foundation
import Logging
import TarmacContract
import TarmacPlanning
import TarmacKubernetes
import TarmacManifests
import TarmacModel

public struct KubernetesBackendError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct KubernetesBackendOptions: Sendable {
    /// Where the logs of pods that are gone are kept (read before their objects are deleted).
    public var logDirectory: String
    /// How long a pod may be Unschedulable on the nodes Tarmac chose before the attempt fails (the previous attempt's
    /// pods may still be terminating there).
    public var unschedulableGrace: TimeInterval
    /// Apply the platform objects at start and keep them converged.
    public var applyPlatform: Bool
    /// How often the platform objects are compared with the cluster and drift is corrected.
    public var platformResync: Duration
    /// The user the admission policies let create GPU workloads. nil: the identity Tarmac has in the cluster (SelfSubjectReview).
    public var controllerUser: String?
    /// How long a stopped attempt's pods may take to leave before they are reported stopped anyway.
    public var stopTimeout: TimeInterval

    public init(logDirectory: String, unschedulableGrace: TimeInterval = 60, applyPlatform: Bool = true, platformResync: Duration = .seconds(60),
                controllerUser: String? = nil, stopTimeout: TimeInterval = 180) {
        self.logDirectory = logDirectory
        self.unschedulableGrace = unschedulableGrace
        self.applyPlatform = applyPlatform
        self.platformResync = platformResync
        self.controllerUser = controllerUser
        self.stopTimeout = stopTimeout
    }
}

/// The Kubernetes backend (DESIGN §6): each workload's objects are created held (a suspended Job, a Deployment at zero
/// replicas) when it is queued; admission pins its pods to the nodes the engine chose and releases them; preemption and
/// failure hold them again; the end deletes them with propagation. Nodes, pods, Jobs and Deployments are kept current by
/// list+watch, so reads cost no requests. Every object carries its workload's id, and every pod its attempt, so a restart
/// adopts what belongs to a live workload and removes the rest.
public actor KubernetesBackend: Backend {
    struct Key: Hashable { var workload: String, attempt: Int, pod: Int }
    struct AttemptKey: Hashable { var workload: String, attempt: Int }

    public let client: KubeClient
    /// The contract in force: a reload replaces it (`contractChanged`).
    var contract: Contract
    let options: KubernetesBackendOptions
    let logger: Logger

    var nodeObjects: [String: [String: Any]] = [:]
    var podObjects: [String: [String: Any]] = [:]
    var jobs: [String: [String: Any]] = [:]
    var deployments: [String: [String: Any]] = [:]
    var synced: Set<String> = []
    var watchError: [String: String] = [:]
    var tasks: [Task<Void, Never>] = []
    /// Logs to copy and objects to delete of ended workloads, done in the background a few at a time.
    let endings = EndingQueue()

    var tracked: [String: WorkloadObjects] = [:]
    var launched: [String: Int] = [:]
    /// Workloads whose held objects are known to exist (created or adopted): admission needs no check of them.
    var prepared: Set<String> = []
    var reported: Set<Key> = []
    var stopping: [AttemptKey: Date] = [:]
    /// The node of each pod slot of the launched attempt, by workload.
    var placements: [String: [String]] = [:]
    /// Pods pinned (patched) and not yet seen without their gate: not patched twice.
    var pinning: Set<String> = []
    /// Attempts reported started.
    var startReported: Set<AttemptKey> = []
    var excluded: [String: String] = [:]
    public private(set) var controllerUser = Naming.controllerUser
    public private(set) var platformOutcomes: [PlatformSync.Outcome] = []
    /// Wakes the control plane's loop when a watch brings something it acts on (see `wakes(_:_:before:)`).
    var wake: (@Sendable () -> Void)?

    /// Where it reads the time (stop grace, the unschedulable grace, the first sync's deadline).
    let clock: any RuntimeClock

    public init(client: KubeClient, contract: Contract, options: KubernetesBackendOptions, clock: any RuntimeClock = SystemClock(),
                logger: Logger = Logger(label: "tarmac.kubernetes")) {
        self.clock = clock
        self.client = client
        self.contract = contract
        self.options = options
        self.logger = logger
    }

    // MARK: start

    /// Learns its own identity, applies the platform, then lists and watches nodes, pods, Jobs and Deployments; returns
    /// when every list has arrived.
    /// `onlyIdentity`: learn the identity and stop there (for `tarmac apply-platform`).
    public func start(syncTimeout: Duration = .seconds(60), onlyIdentity: Bool = false) async throws {
        if let u = options.controllerUser {
            controllerUser = u
        } else if let u = await whoAmI() {
            controllerUser = u
        }
        if onlyIdentity { return }
        if options.applyPlatform {
            let failed = try await applyPlatform().filter { $0.action == .failed }
            if !failed.isEmpty {
                throw KubernetesBackendError("could not apply the platform: " + failed.map { "\($0.kind) \($0.namespace.map { "\($0)/" } ?? "")\($0.name): \($0.error ?? "")" }.joined(separator: "; "))
            }
        }
        let selector = Naming.workloadIDLabel
        watch("nodes", ListWatch(client: client, path: "/api/v1/nodes"))
        watch("pods", ListWatch(client: client, path: "/api/v1/pods"))
        watch("jobs", ListWatch(client: client, path: "/apis/batch/v1/jobs", labelSelector: selector))
        watch("deployments", ListWatch(client: client, path: "/apis/apps/v1/deployments", labelSelector: selector))
        let deadline = clock.elapsed + syncTimeout
        while synced.count < 4 {
            if clock.elapsed > deadline {
                throw KubernetesBackendError("the cluster's lists did not arrive within \(syncTimeout): \(watchError.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if options.applyPlatform {
            let every = options.platformResync
            tasks.append(Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: every)
                    guard let self, !Task.isCancelled else { return }
                    _ = try? await self.applyPlatform()
                }
            })
        }
    }

    public func shutdown() async {
        for t in tasks { t.cancel() }
        tasks = []
        // What ended workloads left to do is finished, for up to 10 s: what is cut off, the next start's reconcile
        // deletes (their logs are then lost).
        let endings = self.endings
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await endings.drain() }
            g.addTask { try? await Task.sleep(for: .seconds(10)) }
            await g.next()
            g.cancelAll()
        }
    }

    /// The username the API server sees for Tarmac's credentials.
    func whoAmI() async -> String? {
        do {
            let review = try await client.create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                                  ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"])
            return ((review["status"] as? [String: Any])?["userInfo"] as? [String: Any])?["username"] as? String
        } catch {
            logger.warning("could not learn Tarmac's own identity (SelfSubjectReview); the admission policies allow \(Naming.controllerUser)",
                           metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// A reloaded contract: the platform's objects are applied from it at once (namespaces, quotas, priority classes,
    /// policies), and the inventory's pools follow. Objects of workloads already accepted keep the plan they were
    /// resolved with.
    public func contractChanged(_ next: Contract) async {
        contract = next
        guard options.applyPlatform else { return }
        do { _ = try await applyPlatform() } catch {
            logger.error("the reloaded platform could not be applied; retrying at the next resync", metadata: ["error": "\(error)"])
        }
    }

    /// Renders the platform for this control plane's identity and converges the cluster to it; drift is logged.
    public func applyPlatform(dryRun: Bool = false) async throws -> [PlatformSync.Outcome] {
        let objects = PlatformRenderer.render(contract, options: RenderOptions(controllerUser: controllerUser))
        let outcomes = await PlatformSync(client: client).sync(objects, dryRun: dryRun)
        for o in outcomes where !o.drift.isEmpty {
            logger.warning("platform drift corrected", metadata: ["object": "\(o.kind) \(o.namespace.map { "\($0)/" } ?? "")\(o.name)", "drift": "\(o.drift.joined(separator: "; "))"])
        }
        for o in outcomes where o.action == .failed {
            logger.error("platform object not applied", metadata: ["object": "\(o.kind) \(o.namespace.map { "\($0)/" } ?? "")\(o.name)", "error": "\(o.error ?? "")"])
        }
        platformOutcomes = outcomes
        return outcomes
    }

    func watch(_ name: String, _ lw: ListWatch) {
        // The task holds the backend until `shutdown()` cancels it.
        tasks.append(Task { [self] in
            var failures = 0
            while !Task.isCancelled {
                do {
                    try await lw.run { event in await self.apply(event, to: name) }
                    return
                } catch is CancellationError {
                    return
                } catch {
                    failures += 1
                    self.noteWatchError(name, error)
                    try? await Task.sleep(for: lw.client.retry.delay(retry: failures, retryAfter: nil))
                }
            }
        })
    }

    func noteWatchError(_ name: String, _ error: any Error) {
        watchError[name] = "\(error)"
        logger.warning("list/watch failed; retrying", metadata: ["resource": "\(name)", "error": "\(error)"])
    }

    func apply(_ event: WatchEvent, to name: String) {
        func key(_ o: [String: Any]) -> String? {
            switch name {
            case "nodes": AttemptStatus.name(o)
            case "pods": "\(AttemptStatus.namespace(o) ?? "")/\(AttemptStatus.name(o))"
            default: AttemptStatus.labels(o)[Naming.workloadIDLabel]
            }
        }
        func update(_ body: (inout [String: [String: Any]]) -> Void) {
            switch name {
            case "nodes": body(&nodeObjects)
            case "pods": body(&podObjects)
            case "jobs": body(&jobs)
            default: body(&deployments)
            }
        }
        switch event {
        case .relisted(let all):
            update { store in
                store = [:]
                for o in all { if let k = key(o.value) { store[k] = o.value } }
            }
            synced.insert(name)
            if Self.wakes(name, nil, before: nil) { wake?() }
        case .added(let o), .modified(let o):
            guard let k = key(o.value) else { return }
            let before = name == "pods" ? podObjects[k] : nil
            update { $0[k] = o.value }
            if Self.wakes(name, o.value, before: before) { wake?() }
        case .deleted(let o):
            guard let k = key(o.value) else { return }
            update { $0[k] = nil }
            if Self.wakes(name, nil, before: nil) { wake?() }
        }
    }

    /// Whether a watched change is one the control plane's loop acts on, so it should not wait for its next tick: a pod
    /// that appears (to be pinned), changes phase (started, ended) or goes; a Job or Deployment that changes. Other pod
    /// updates (conditions, container statuses) and nodes (the inventory is refreshed on its own period) wait.
    /// `object` nil: gone, or the whole list read again; `before` nil: not seen before.
    static func wakes(_ resource: String, _ object: [String: Any]?, before: [String: Any]?) -> Bool {
        switch resource {
        case "nodes": return false
        case "pods":
            guard let object, before != nil else { return true }
            func phase(_ o: [String: Any]?) -> String? { (o?["status"] as? [String: Any])?["phase"] as? String }
            return phase(object) != phase(before)
        default: return true
        }
    }

    // MARK: Backend

    public func nodes() async throws -> [NodeInventory] {
        let r = ClusterInventory.compute(nodes: Array(nodeObjects.values), pods: Array(podObjects.values), platform: contract.platform)
        if r.excluded != excluded {
            excluded = r.excluded
            for (n, why) in r.excluded.sorted(by: { $0.key < $1.key }) { logger.info("node not used", metadata: ["node": "\(n)", "why": "\(why)"]) }
        }
        return r.nodes
    }

    public func reconcile(_ active: [ActiveWorkload]) async throws {
        var ids = Set<String>()
        for a in active {
            ids.insert(a.id)
            do { tracked[a.id] = try WorkloadObjects(id: a.id, plan: a.plan, contract: contract) } catch {
                logger.error("cannot render a stored workload", metadata: ["workload": "\(a.id)", "error": "\(error)"])
            }
        }
        // What belongs to no live workload goes: a crash between the store and the cluster leaves nothing behind.
        var removed = 0
        for (api, kind) in Self.ownedKinds {
            let (items, _) = try await client.list(ResourcePath.group(api) + "/" + ResourcePath.plural(kind) + "?labelSelector=" + Naming.workloadIDLabel)
            for item in items {
                guard let owner = AttemptStatus.labels(item)[Naming.workloadIDLabel], !ids.contains(owner) else { continue }
                try await client.delete(ResourcePath.object(apiVersion: api, kind: kind, name: AttemptStatus.name(item), namespace: AttemptStatus.namespace(item)))
                removed += 1
            }
        }
        if removed > 0 { logger.notice("removed objects of workloads that no longer exist", metadata: ["objects": "\(removed)"]) }
        // Queued workloads have their held objects (created again if a crash came first).
        for a in active where !a.holdsCapacity {
            guard let o = tracked[a.id] else { continue }
            do {
                try await ensure(o.queued, for: o)
                prepared.insert(a.id)
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
        tracked[w.id] = o
        try await ensure(o.queued, for: o)
        prepared.insert(w.id)
    }

    /// Creates each object that does not exist. One left by an earlier workload of the same name is deleted first; a
    /// refusal by the cluster (admission, validation, a missing namespace) is the workload's rejection.
    func ensure(_ objects: [KubeObject], for w: WorkloadObjects) async throws {
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
                    if owner == w.id { break }
                    guard tries < 60 else { throw BackendRejection("\(o.kind) \(o.namespace ?? "")/\(o.name) exists and belongs to \(owner.map { "workload \($0)" } ?? "no Tarmac workload")") }
                    if owner == nil && live != nil {
                        throw BackendRejection("\(o.kind) \(o.namespace ?? "")/\(o.name) already exists and was not created by Tarmac; rename the workload or remove the object")
                    }
                    // An earlier workload's object of the same name: gone for good, or on its way out.
                    if let owner, tracked[owner] == nil { try await client.delete(ResourcePath.of(o)) }
                    try await Task.sleep(for: .milliseconds(500))
                } catch let e as KubeError where [400, 403, 404, 422].contains(e.code) {
                    throw BackendRejection("the cluster refused \(o.kind) \(o.namespace ?? "")/\(o.name): \(e.message)")
                }
            }
        }
    }

    public nonisolated var placeName: String { "the cluster" }

    public func onEvent(_ handler: @escaping @Sendable () -> Void) async { wake = handler }
    /// Pods fetch their working directory from the control plane (an init container).
    public nonisolated var fetchesWorkdirOverAPI: Bool { true }

    /// A service answers at its Service's cluster DNS name (the cluster balances over the replicas).
    public func endpoints(workload: String, attempt: Int, pods: Int) async -> [String] {
        guard let o = tracked[workload] else { return [] }
        return o.supporting.filter { $0.kind == "Service" && $0.body["spec"]?["clusterIP"]?.string != "None" }.flatMap { svc in
            (svc.body["spec"]?["ports"]?.list ?? []).compactMap { p in
                p["port"].flatMap { if case .int(let n) = $0 { n } else { nil } }.map { "http://\(svc.name).\(o.namespace).svc:\($0)" }
            }
        }
    }
    /// Pools may be scaled by a cluster autoscaler: what cannot start on today's nodes is accepted with a warning.
    public nonisolated var inventoryCanGrow: Bool { true }

    public func launch(_ pods: [PodLaunch]) async throws {
        guard let first = pods.first else { return }
        let id = first.workload, attempt = first.attempt
        guard let o = tracked[id] else { throw BackendRejection("workload \(id) is not known to the Kubernetes backend") }
        if !prepared.contains(id) {
            try await ensure(o.supporting, for: o)
            prepared.insert(id)
        }
        if let previous = launched[id], previous != attempt { await keepLogs(id, attempt: previous) }
        let slots = max(o.podCount, (pods.map(\.pod).max() ?? -1) + 1)
        var nodes = Array(repeating: "", count: slots)
        if let known = placements[id], known.count == slots, launched[id] == attempt { nodes = known }
        for p in pods where p.pod < nodes.count { nodes[p.pod] = p.placement.node }
        guard !nodes.contains("") else { throw KubernetesBackendError("workload \(id) attempt \(attempt): no node for every pod slot") }
        // The checkpoint credential of this attempt (given when the control plane has a URL pods can reach).
        var checkpoint = false
        var workdir = false
        if let url = first.environment["TARMAC_CHECKPOINT_URL"], let token = first.environment["TARMAC_CHECKPOINT_TOKEN"] {
            // .../v1/workloads/ID/checkpoint -> .../v1/workloads/ID/workdir
            let workdirURL = first.workdir.map { _ in String(url.dropLast("checkpoint".count)) + "workdir" }
            workdir = workdirURL != nil
            let secret = o.checkpointSecret(url: url, token: token, workdirURL: workdirURL, identityURL: first.environment["TARMAC_IDENTITY_URL"],
                                            gatewayURL: first.environment["TARMAC_GATEWAY_URL"])
            do { _ = try await client.apply(ResourcePath.of(secret), secret.json) } catch let e as KubeError where [400, 403, 404, 422].contains(e.code) {
                throw BackendRejection("the cluster refused Secret \(o.namespace)/\(secret.name): \(e.message)")
            }
            checkpoint = true
        }
        if first.workdir != nil && !workdir {
            throw BackendRejection("the workload has a working directory, but its pods cannot fetch it: start tarmac up with --advertise-url set to a URL the cluster's pods reach")
        }
        let desired = o.controller(attempt: attempt, nodes: nodes, checkpoint: checkpoint, workdir: workdir)
        let live = o.isJob ? jobs[id] : deployments[id]
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
        launched[id] = attempt
        placements[id] = nodes
        stopping[AttemptKey(workload: id, attempt: attempt)] = nil
    }

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
        guard let o = tracked[workload] else { return }
        stopping[AttemptKey(workload: workload, attempt: attempt)] = clock.now
        do {
            _ = try await client.mergePatch(o.controllerPath, o.isJob ? ["spec": ["suspend": true]] : ["spec": ["replicas": 0]])
        } catch let e as KubeError where e.isNotFound {
        } catch {
            logger.error("could not stop a workload", metadata: ["workload": "\(workload)", "error": "\(error)"])
        }
    }

    /// The pods of tracked workloads, by workload id.
    func podsByWorkload() -> [String: [[String: Any]]] {
        var byWorkload: [String: [[String: Any]]] = [:]
        for p in podObjects.values {
            if let id = AttemptStatus.labels(p)[Naming.workloadIDLabel], tracked[id] != nil { byWorkload[id, default: []].append(p) }
        }
        return byWorkload
    }

    /// Pins each gated pod of a running attempt to its slot's node and lets the scheduler have it.
    func pinGatedPods(_ byWorkload: [String: [[String: Any]]]) async {
        for (id, attempt) in launched {
            guard let o = tracked[id], let nodes = placements[id], stopping[AttemptKey(workload: id, attempt: attempt)] == nil else { continue }
            let pods = (byWorkload[id] ?? []).filter { AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && !ClusterInventory.isFinished($0) }
            for p in pods where !PodPinning.isGated(p) { pinning.remove(AttemptStatus.name(p)) }
            for (name, node) in PodPinning.assign(placement: nodes, pods: pods, isJob: o.isJob) where !pinning.contains(name) {
                guard let pod = pods.first(where: { AttemptStatus.name($0) == name }) else { continue }
                do {
                    let body = try JSONSerialization.data(withJSONObject: PodPinning.patch(pod, to: node))
                    _ = try await client.mergePatch("/api/v1/namespaces/\(o.namespace)/pods/\(name)", body: body)
                    pinning.insert(name)
                } catch let e as KubeError where e.isNotFound {
                } catch {
                    logger.warning("could not pin a pod to its node; retrying", metadata: ["pod": "\(o.namespace)/\(name)", "node": "\(node)", "error": "\(error)"])
                }
            }
        }
    }

    public nonisolated var reportsStarts: Bool { true }

    /// The replicas each running Deployment is scaled to (by its HPA, or anyone), and where its placed replicas run.
    public func desiredReplicas() async -> [String: ReplicaDemand] {
        let byWorkload = podsByWorkload()
        var out: [String: ReplicaDemand] = [:]
        for (id, attempt) in launched {
            guard let o = tracked[id], !o.isJob, stopping[AttemptKey(workload: id, attempt: attempt)] == nil, let live = deployments[id],
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
        guard let o = tracked[id], launched[id] == attempt else { return }
        placements[id] = nodes
        _ = try await client.mergePatch(o.controllerPath, ["metadata": ["annotations": [PodPinning.placementAnnotation: nodes.joined(separator: ",")]]])
    }

    /// Attempts whose every pod slot has a pod bound and running (or already succeeded).
    public func started() async -> [AttemptRef] {
        let byWorkload = podsByWorkload()
        var out: [AttemptRef] = []
        for (id, attempt) in launched {
            let key = AttemptKey(workload: id, attempt: attempt)
            guard let o = tracked[id], !startReported.contains(key), stopping[key] == nil else { continue }
            let pods = (byWorkload[id] ?? []).filter {
                AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && ["Running", "Succeeded"].contains(($0["status"] as? [String: Any])?["phase"] as? String ?? "")
                    && PodPinning.node(of: $0) != nil
            }
            let slots = o.isJob ? Set(pods.compactMap { AttemptStatus.index($0).map(o.slot(ofIndex:)) }).count : pods.count
            if slots >= o.podCount {
                startReported.insert(key)
                out.append(AttemptRef(workload: id, attempt: attempt))
            }
        }
        return out
    }

    public func poll() async -> [PodExit] {
        var out: [PodExit] = []
        let now = clock.now
        let byWorkload = podsByWorkload()
        await pinGatedPods(byWorkload)
        for (id, attempt) in launched {
            guard let o = tracked[id] else { continue }
            let key = AttemptKey(workload: id, attempt: attempt)
            if let since = stopping[key] {
                // Stopped: reported once its pods have left (their capacity is free again), or after the timeout.
                let left = (byWorkload[id] ?? []).filter { AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && !ClusterInventory.isFinished($0) }
                if left.isEmpty || now.timeIntervalSince(since) > options.stopTimeout {
                    for pod in 0..<o.podCount where reported.insert(Key(workload: id, attempt: attempt, pod: pod)).inserted {
                        out.append(PodExit(workload: id, attempt: attempt, pod: pod, reason: .stopped))
                    }
                    stopping[key] = nil
                }
                continue
            }
            let exits = AttemptStatus.exits(.init(objects: o, attempt: attempt, controller: o.isJob ? jobs[id] : deployments[id], pods: byWorkload[id] ?? [],
                                                  now: now, unschedulableGrace: options.unschedulableGrace))
            for e in exits where reported.insert(Key(workload: id, attempt: attempt, pod: e.pod)).inserted { out.append(e) }
        }
        return out
    }

    public func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        guard let o = tracked[workload] else { return Array(repeating: .notStarted, count: pods) }
        let live = o.isJob ? jobs[workload] : deployments[workload]
        guard let live, AttemptStatus.annotations(live)[Naming.attemptLabel] == String(attempt) else { return Array(repeating: .notStarted, count: pods) }
        let spec = live["spec"] as? [String: Any] ?? [:]
        let held = o.isJob ? (spec["suspend"] as? Bool ?? false) && !Self.isFinished(live) : (spec["replicas"] as? Int ?? 0) == 0
        if held { return Array(repeating: .notStarted, count: pods) }
        launched[workload] = attempt
        if let nodes = AttemptStatus.annotations(live)[PodPinning.placementAnnotation]?.split(separator: ",").map(String.init), nodes.count == pods {
            placements[workload] = nodes
        }
        let mine = podObjects.values.filter { AttemptStatus.labels($0)[Naming.workloadIDLabel] == workload }
        let exits = AttemptStatus.exits(.init(objects: o, attempt: attempt, controller: live, pods: Array(mine), now: clock.now, unschedulableGrace: options.unschedulableGrace))
        var result = Array(repeating: PodRecovery.running, count: pods)
        for e in exits where e.pod < pods && reported.insert(Key(workload: workload, attempt: attempt, pod: e.pod)).inserted {
            result[e.pod] = .finished(e)
        }
        return result
    }

    /// Forgets an ended workload at once; its logs are copied and its objects deleted in the background (`endings`).
    public func release(workload: String) async {
        guard let o = tracked[workload] else { return }
        let logs = launched[workload].map { logCopies(workload, attempt: $0) } ?? []
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
        tracked[workload] = nil
        launched[workload] = nil
        placements[workload] = nil
        startReported = startReported.filter { $0.workload != workload }
        prepared.remove(workload)
        reported = reported.filter { $0.workload != workload }
        stopping = stopping.filter { $0.key.workload != workload }
    }

    // MARK: logs

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        let file = logFile(workload, attempt, pod)
        if let pod = self.pod(workload, attempt, pod), let o = tracked[workload] {
            let path = "/api/v1/namespaces/\(o.namespace)/pods/\(AttemptStatus.name(pod))/log?container=\(o.containerName)&limitBytes=\(offset + Int64(max))"
            do {
                let data = try await client.raw(path)
                return LogChunk(data: data.count > offset ? data.subdata(in: Int(offset)..<data.count) : Data(), nextOffset: Swift.max(offset, Int64(data.count)))
            } catch let e as KubeError where e.code == 400 {
                // The container has not started yet: no log so far.
                return LogChunk(data: Data(), nextOffset: offset)
            } catch let e as KubeError where e.isNotFound {
                // The pod went away meanwhile (the workload ended and its objects are being removed): its log was kept.
            }
        }
        guard let h = FileHandle(forReadingAtPath: file) else { return LogChunk(data: Data(), nextOffset: offset) }
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        let data = try h.read(upToCount: max) ?? Data()
        return LogChunk(data: data, nextOffset: offset + Int64(data.count))
    }

    func logFile(_ workload: String, _ attempt: Int, _ pod: Int) -> String { "\(options.logDirectory)/\(workload)/\(attempt)/\(pod).log" }

    /// The newest pod of a slot of an attempt.
    func pod(_ workload: String, _ attempt: Int, _ slot: Int) -> [String: Any]? {
        guard let o = tracked[workload] else { return nil }
        let mine = podObjects.values.filter {
            AttemptStatus.labels($0)[Naming.workloadIDLabel] == workload && AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt)
        }.sorted { (AttemptStatus.index($0) ?? 0, AttemptStatus.name($0)) < (AttemptStatus.index($1) ?? 0, AttemptStatus.name($1)) }
        if o.isJob {
            return mine.filter { o.slot(ofIndex: AttemptStatus.index($0) ?? 0) == slot }.max { created($0) < created($1) }
        }
        return slot < mine.count ? mine[slot] : nil
    }

    func created(_ o: [String: Any]) -> String { (o["metadata"] as? [String: Any])?["creationTimestamp"] as? String ?? "" }

    /// Copies the logs of an attempt's pods to disk before they go, so `tarmac logs` keeps working after the end.
    func keepLogs(_ workload: String, attempt: Int) async {
        await Self.copy(logCopies(workload, attempt: attempt), client: client)
    }

    /// Where each pod's log is read from and written to.
    func logCopies(_ workload: String, attempt: Int) -> [(path: String, file: String)] {
        guard let o = tracked[workload] else { return [] }
        return (0..<o.podCount).compactMap { slot in
            guard let pod = pod(workload, attempt, slot) else { return nil }
            return ("/api/v1/namespaces/\(o.namespace)/pods/\(AttemptStatus.name(pod))/log?container=\(o.containerName)&limitBytes=\(16 << 20)",
                    logFile(workload, attempt, slot))
        }
    }

    /// Each log is tried once, for at most `logCopyTimeout`: a kubelet that cannot serve it costs that, not retries.
    static func copy(_ logs: [(path: String, file: String)], client: KubeClient) async {
        for (path, file) in logs {
            guard let data = try? await client.rawOnce(path, timeout: logCopyTimeout) else { continue }
            try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: file, contents: data)
        }
    }

    static let logCopyTimeout: Duration = .seconds(5)

    /// Waits until the background work of ended workloads is done (tests, shutdown).
    public func settle() async { await endings.drain() }
}
