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

    /// At start, create the held objects of queued workloads that lack them. A cluster of several (the Fleet) does
    /// not: a workload's objects are created in the one cluster it is placed on, at launch.
    public var prepareQueued = true
    /// Pod pins (PATCHes) in flight at once.
    public var pinConcurrency = 16

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
///
/// In parts: the object cache and its watches (`+Watch`), reconcile and acceptance (`+Reconcile`), attempts
/// (`Attempts/`), status and triage (`Status/`), logs (`Logs/`).
public actor KubernetesBackend: Backend {
    public let client: KubeClient
    /// The contract in force: a reload replaces it (`contractChanged`).
    var contract: Contract
    let options: KubernetesBackendOptions
    let logger: Logger

    /// Nodes, pods, and the Jobs and Deployments of workloads, as list+watch keeps them (`KubernetesBackend+Watch`).
    var cache = ObjectCache([.nodes, .pods, .jobs, .deployments])
    var tasks: [Task<Void, Never>] = []
    var watching = false
    var resyncing = false
    /// Logs to copy and objects to delete of ended workloads, done in the background a few at a time.
    let endings = EndingQueue()

    /// One record per workload it drives: its objects and its attempt (`WorkloadRecord`).
    var workloads: [String: WorkloadRecord] = [:]
    /// Pods pinned (patched) and not yet seen without their gate: not patched twice.
    var pinning: Set<String> = []
    /// Nodes left out of the inventory, and why (logged when it changes).
    var excluded: [String: String] = [:]
    public private(set) var controllerUser = Naming.controllerUser
    public private(set) var platformOutcomes: [PlatformSync.Outcome] = []
    /// When the platform was last compared with the cluster, and the last drift found and corrected (kept until drift
    /// is found again), as `Kind namespace/name: what differed`.
    public private(set) var lastPlatformSync: Date?
    public private(set) var lastDrift: [String] = []
    public private(set) var lastDriftAt: Date?
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
        // Started again after a failed start (a cluster that did not answer): the watches already run.
        if !watching {
            watching = true
            for r in cache.resources { watch(r) }
        }
        let deadline = clock.elapsed + syncTimeout
        while !cache.isSynced {
            if clock.elapsed > deadline {
                throw KubernetesBackendError("the cluster's lists did not arrive within \(syncTimeout): \(cache.errors.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if options.applyPlatform && !resyncing {
            resyncing = true
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
        lastPlatformSync = clock.now
        let drifted = outcomes.filter { !$0.drift.isEmpty }.map { "\($0.kind) \($0.namespace.map { "\($0)/" } ?? "")\($0.name): \($0.drift.joined(separator: "; "))" }
        if !drifted.isEmpty, !dryRun {
            lastDrift = drifted
            lastDriftAt = clock.now
        }
        return outcomes
    }

    // MARK: Backend

    public func nodes() async throws -> [NodeInventory] {
        let r = ClusterInventory.compute(nodes: Array(cache[.nodes].values), pods: Array(cache[.pods].values), platform: contract.platform)
        if r.excluded != excluded {
            excluded = r.excluded
            for (n, why) in r.excluded.sorted(by: { $0.key < $1.key }) { logger.info("node not used", metadata: ["node": "\(n)", "why": "\(why)"]) }
        }
        return r.nodes
    }

    public nonisolated var placeName: String { "the cluster" }

    public func onEvent(_ handler: @escaping @Sendable () -> Void) async { wake = handler }
    /// Pods fetch their working directory from the control plane (an init container).
    public nonisolated var fetchesWorkdirOverAPI: Bool { true }

    /// A service answers at its Service's cluster DNS name (the cluster balances over the replicas).
    public func endpoints(workload: String, attempt: Int, pods: Int) async -> [String] {
        guard let o = workloads[workload]?.objects else { return [] }
        return o.supporting.filter { $0.kind == "Service" && $0.body["spec"]?["clusterIP"]?.string != "None" }.flatMap { svc in
            (svc.body["spec"]?["ports"]?.list ?? []).compactMap { p in
                p["port"].flatMap { if case .int(let n) = $0 { n } else { nil } }.map { "http://\(svc.name).\(o.namespace).svc:\($0)" }
            }
        }
    }
    /// Whether it has a Job or Deployment of a workload, of any attempt (as the cache has them).
    public func holds(workload: String) -> Bool { cache[.jobs][workload] != nil || cache[.deployments][workload] != nil }

    /// Whether the API server answers `/readyz` within `timeout`.
    public func probe(timeout: Duration = .seconds(2)) async -> Bool {
        do {
            _ = try await client.rawOnce("/readyz", timeout: timeout)
            return true
        } catch {
            return false
        }
    }

    /// Pools may be scaled by a cluster autoscaler: what cannot start on today's nodes is accepted with a warning.
    public nonisolated var inventoryCanGrow: Bool { true }
}
