import Foundation
import Logging
import Metrics
import TarmacContract
import TarmacCore
import TarmacPlanning

/// Several clusters as one backend (DESIGN: a cluster is one more level above pools and topology domains). Each
/// member is a whole backend of its own (Kubernetes: its client, watches, rate limits and wake-ups); the Fleet only
/// routes. Its nodes are the members' nodes named `CLUSTER/NODE` with their cluster set, so the engine places each gang
/// in one cluster and the control plane never counts clusters. A workload's objects are created in the cluster its
/// attempt is placed on, at launch.
///
/// A member that stops answering is cordoned at once (its nodes are offered with no pool: nothing new goes there; what
/// runs there stays counted); unreachable past `lostTimeout` it is lost: each attempt running there ends as
/// `clusterLost` and is placed again elsewhere. When it answers again, what those workloads left there is deleted
/// before it is offered again.
public actor FleetBackend: Backend, ReportsClusters {
    public struct Member: Sendable {
        public var name: String
        public var region: String?
        public var backend: any ClusterBackend
        /// Pools of the contract this cluster offers (nil: every pool).
        public var pools: Set<String>?
        public init(name: String, region: String? = nil, backend: any ClusterBackend, pools: Set<String>? = nil) {
            self.name = name
            self.region = region
            self.backend = backend
            self.pools = pools
        }
    }

    /// Where a workload's current attempt was launched.
    struct Home: Hashable {
        var cluster: String
        var attempt: Int
        var pods: Int
    }

    let members: [Member]
    let byName: [String: Member]
    var lostTimeout: TimeInterval
    let probeEvery: Duration
    let clock: any RuntimeClock
    let logger: Logger

    var health: [String: ClusterHealth] = [:]
    /// Workloads accepted and not yet released (what a member that comes back reconciles against).
    var accepted: [String: ActiveWorkload] = [:]
    var homes: [String: Home] = [:]
    /// Clusters where a workload's objects were created (it was accepted there).
    var prepared: [String: Set<String>] = [:]
    /// Attempts being stopped (a lost cluster reports them stopped, not lost).
    var stopping: Set<String> = []
    /// Per cluster: workloads whose objects must be deleted there once it answers again.
    var leftovers: [String: Set<String>] = [:]
    var exits: [PodExit] = []
    var dispatched: [String: Int] = [:]
    var rejected: [String: [String: Int]] = [:]
    var failovers: [String: Int] = [:]
    var tasks: [Task<Void, Never>] = []
    /// Whether the control plane has reconciled (started), and the members reconciled since.
    var started = false
    var reconciled: Set<String> = []
    var wake: (@Sendable () -> Void)?

    public init(members: [Member], lostTimeout: TimeInterval, probeEvery: Duration = .seconds(1), clock: any RuntimeClock = SystemClock(),
                logger: Logger = Logger(label: "tarmac.fleet")) {
        self.members = members
        self.byName = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) })
        self.lostTimeout = lostTimeout
        self.probeEvery = probeEvery
        self.clock = clock
        self.logger = logger
        for m in members {
            health[m.name] = ClusterHealth()
            Gauge(label: "tarmac_cluster_reachable", dimensions: [("cluster", m.name)]).record(0)
        }
    }

    /// Probes every member once (so the first inventory knows who answers), then every `probeEvery` in the background.
    public func start() async {
        await probeAll()
        tasks.append(Task { [weak self, probeEvery] in
            while !Task.isCancelled {
                try? await Task.sleep(for: probeEvery)
                guard let self, !Task.isCancelled else { return }
                await self.probeAll()
            }
        })
    }

    public func shutdown() {
        for t in tasks { t.cancel() }
        tasks = []
    }

    /// The contract's clusterLostTimeout changed (a reload).
    public func setLostTimeout(_ t: TimeInterval) { lostTimeout = t }

    // MARK: health

    func probeAll() async {
        let answers = await withTaskGroup(of: (String, Bool).self) { g in
            for m in members { g.addTask { (m.name, await m.backend.probe()) } }
            var out: [String: Bool] = [:]
            for await (name, ok) in g { out[name] = ok }
            return out
        }
        let now = clock.now
        var changed = false
        for m in members {
            guard let answered = answers[m.name] else { continue }
            if let change = health[m.name]?.observe(answered: answered, at: now) {
                changed = true
                await handle(change, of: m)
            }
            if let change = health[m.name]?.evaluate(now: now, timeout: lostTimeout) {
                changed = true
                await handle(change, of: m)
            }
        }
        if changed { wake?() }
    }

    func handle(_ change: ClusterHealth.Change, of m: Member) async {
        switch change {
        case .unreachable:
            Gauge(label: "tarmac_cluster_reachable", dimensions: [("cluster", m.name)]).record(0)
            logger.warning("cluster not answering: nothing new is placed there", metadata: ["cluster": "\(m.name)", "lostAfter": "\(Int(lostTimeout))s"])
        case .lost:
            failovers[m.name, default: 0] += 1
            Counter(label: "tarmac_cluster_failovers_total", dimensions: [("cluster", m.name)]).increment()
            let away = homes.filter { $0.value.cluster == m.name }
            for (id, home) in away.sorted(by: { $0.key < $1.key }) {
                let key = id + "#" + String(home.attempt)
                for pod in 0..<home.pods {
                    if stopping.contains(key) {
                        exits.append(PodExit(workload: id, attempt: home.attempt, pod: pod, reason: .stopped, detail: "cluster \(m.name) lost"))
                    } else {
                        exits.append(PodExit(workload: id, attempt: home.attempt, pod: pod, reason: .clusterLost,
                                             detail: "cluster \(m.name) did not answer for \(Int(lostTimeout))s"))
                    }
                }
                stopping.remove(key)
                homes[id] = nil
                leftovers[m.name, default: []].insert(id)
            }
            logger.error("cluster lost: its workloads are placed elsewhere", metadata: ["cluster": "\(m.name)", "workloads": "\(away.count)"])
        case .back(let wasLost):
            // What no longer belongs there goes before it is offered again: workloads that ended while it was away
            // (reconcile) and those that moved to another cluster.
            // A short absence leaves what runs there as it was; a lost cluster (nothing of ours runs there any more) or
            // one that never answered since the start is compared with the store's workloads.
            if started && (wasLost || !reconciled.contains(m.name)) {
                do {
                    try await m.backend.reconcile(Array(accepted.values))
                    reconciled.insert(m.name)
                } catch {
                    logger.warning("cluster answers again but could not be reconciled yet", metadata: ["cluster": "\(m.name)", "error": "\(error)"])
                }
            }
            let moved = (leftovers[m.name] ?? []).filter { homes[$0]?.cluster != m.name }
            for id in moved.sorted() { await m.backend.release(workload: id) }
            for id in moved { prepared[id]?.remove(m.name) }
            leftovers[m.name] = nil
            Gauge(label: "tarmac_cluster_reachable", dimensions: [("cluster", m.name)]).record(1)
            logger.notice("cluster answers again", metadata: ["cluster": "\(m.name)", "wasLost": "\(wasLost)", "deleted": "\(moved.count) workloads' objects"])
        }
    }

    func isUp(_ name: String) -> Bool { health[name]?.reachable ?? false }

    // MARK: inventory

    public func nodes() async throws -> [NodeInventory] {
        var out: [NodeInventory] = []
        for m in members {
            guard let h = health[m.name], !h.lost, h.lastContact != nil else { continue }
            let found: [NodeInventory]
            do { found = try await m.backend.nodes() } catch {
                logger.warning("could not read a cluster's nodes", metadata: ["cluster": "\(m.name)", "error": "\(error)"])
                continue
            }
            let up = h.reachable
            for var n in found {
                if let pool = n.pool, let offered = m.pools, !offered.contains(pool) { continue }
                n.name = FleetNodeName.join(cluster: m.name, node: n.name)
                n.cluster = m.name
                // Unreachable: kept so what runs there stays counted, but in no pool, so nothing new is placed there.
                if !up { n.pool = nil }
                out.append(n)
            }
        }
        return out
    }

    // MARK: attempts

    public func launch(_ pods: [PodLaunch]) async throws {
        guard let first = pods.first, let (cluster, _) = FleetNodeName.split(first.placement.node), let m = byName[cluster] else {
            throw BackendRejection("the pods were placed on no cluster of the platform (\(pods.first?.placement.node ?? "no node"))")
        }
        guard pods.allSatisfy({ FleetNodeName.split($0.placement.node)?.cluster == cluster }) else {
            throw BackendRejection("a gang's pods were placed on several clusters; each workload runs on one")
        }
        let id = first.workload
        // The cluster stopped answering between placement and launch: the attempt goes back to the queue as from a lost
        // cluster (placed again at once, on another), never failed for it.
        guard isUp(cluster) else { return unreachableAtLaunch(pods, cluster: cluster) }
        // A previous attempt elsewhere (a retry that moved): its objects there go first.
        for other in (prepared[id] ?? []).subtracting([cluster]).sorted() {
            if isUp(other) { await byName[other]?.backend.release(workload: id) } else { leftovers[other, default: []].insert(id) }
            prepared[id]?.remove(other)
        }
        do {
            if !(prepared[id]?.contains(cluster) ?? false) {
                guard let w = accepted[id] else { throw BackendRejection("workload \(id) was not accepted") }
                try await m.backend.register(w)
                prepared[id, default: []].insert(cluster)
            }
            var local = pods
            for i in local.indices { local[i].placement.node = FleetNodeName.split(local[i].placement.node)!.node }
            try await m.backend.launch(local)
        } catch let r as BackendRejection {
            count(rejected: "refused", in: cluster)
            throw BackendRejection("cluster \(cluster): \(r.message)")
        } catch {
            count(rejected: "error", in: cluster)
            if await !m.backend.probe() { return unreachableAtLaunch(pods, cluster: cluster) }
            throw FleetError("cluster \(cluster): \(error)")
        }
        homes[id] = Home(cluster: cluster, attempt: first.attempt, pods: max(pods.count, (pods.map(\.pod).max() ?? 0) + 1))
        dispatched[cluster, default: 0] += 1
        Counter(label: "tarmac_cluster_dispatched_total", dimensions: [("cluster", cluster)]).increment()
    }

    func unreachableAtLaunch(_ pods: [PodLaunch], cluster: String) {
        count(rejected: "unreachable", in: cluster)
        for p in pods {
            exits.append(PodExit(workload: p.workload, attempt: p.attempt, pod: p.pod, reason: .clusterLost, detail: "cluster \(cluster) did not answer at launch"))
        }
        wake?()
    }

    func count(rejected reason: String, in cluster: String) {
        rejected[cluster, default: [:]][reason, default: 0] += 1
        Counter(label: "tarmac_cluster_rejected_total", dimensions: [("cluster", cluster), ("reason", reason)]).increment()
    }

    public func stop(workload: String, attempt: Int) async {
        guard let home = homes[workload], home.attempt == attempt, let m = byName[home.cluster] else { return }
        stopping.insert(workload + "#" + String(attempt))
        if isUp(home.cluster) {
            await m.backend.stop(workload: workload, attempt: attempt)
        } else {
            // Out of reach: told when it answers (or reported stopped when it is lost).
            let backend = m.backend
            Task { await backend.stop(workload: workload, attempt: attempt) }
        }
    }

    public func poll() async -> [PodExit] {
        var out = exits
        exits = []
        for m in members where isUp(m.name) {
            for e in await m.backend.poll() {
                // Only what belongs to the attempt placed there now (an older attempt's pods of a cluster that came back
                // are being deleted).
                guard let home = homes[e.workload], home.cluster == m.name, home.attempt == e.attempt else { continue }
                if e.reason == .stopped || e.reason == .exited { stopping.remove(e.workload + "#" + String(e.attempt)) }
                out.append(e)
            }
        }
        return out
    }

    public nonisolated var reportsStarts: Bool { true }

    public func started() async -> [AttemptRef] {
        var out: [AttemptRef] = []
        for m in members where isUp(m.name) {
            out += await m.backend.started().filter { homes[$0.workload]?.cluster == m.name }
        }
        return out
    }

    public func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        var found: [PodRecovery]?
        for m in members where isUp(m.name) {
            let r = await m.backend.recover(workload: workload, attempt: attempt, pods: pods)
            if found == nil, r.contains(where: { $0 != .notStarted }) {
                found = r
                homes[workload] = Home(cluster: m.name, attempt: attempt, pods: pods)
                prepared[workload, default: []].insert(m.name)
            } else if await m.backend.holds(workload: workload) {
                prepared[workload, default: []].insert(m.name)
            }
        }
        // Objects of an earlier attempt elsewhere go; a relaunch of a held attempt goes to its stored placement.
        if let home = homes[workload] {
            for other in (prepared[workload] ?? []).subtracting([home.cluster]).sorted() {
                await byName[other]?.backend.release(workload: workload)
                prepared[workload]?.remove(other)
            }
        }
        return found ?? Array(repeating: .notStarted, count: pods)
    }

    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        var last: any Error = FleetError("no cluster has logs of workload \(workload)")
        for m in ordered(for: workload) {
            do { return try await m.backend.readLog(workload: workload, attempt: attempt, pod: pod, from: offset, max: max) } catch { last = error }
        }
        throw last
    }

    public func waitForLog(workload: String, attempt: Int, pod: Int, beyond offset: Int64, timeout: Duration) async {
        if let m = ordered(for: workload).first {
            await m.backend.waitForLog(workload: workload, attempt: attempt, pod: pod, beyond: offset, timeout: timeout)
        } else {
            try? await Task.sleep(for: min(timeout, .milliseconds(200)))
        }
    }

    /// The workload's current cluster first, then where its objects were, then the rest.
    func ordered(for workload: String) -> [Member] {
        let home = homes[workload]?.cluster
        let was = prepared[workload] ?? []
        return members.sorted { a, b in
            let ka = a.name == home ? 0 : was.contains(a.name) ? 1 : 2, kb = b.name == home ? 0 : was.contains(b.name) ? 1 : 2
            return ka < kb
        }
    }

    // MARK: lifecycle of workloads

    public func reconcile(_ active: [ActiveWorkload]) async throws {
        for a in active { accepted[a.id] = a }
        started = true
        for m in members where isUp(m.name) {
            do {
                try await m.backend.reconcile(active)
                reconciled.insert(m.name)
            } catch {
                logger.error("could not reconcile a cluster with the store's workloads", metadata: ["cluster": "\(m.name)", "error": "\(error)"])
            }
        }
    }

    public func accept(_ workload: ActiveWorkload) async throws {
        accepted[workload.id] = workload
    }

    public func release(workload: String) async {
        accepted[workload] = nil
        for cluster in (prepared[workload] ?? []).sorted() {
            if isUp(cluster) { await byName[cluster]?.backend.release(workload: workload) } else { leftovers[cluster, default: []].insert(workload) }
        }
        prepared[workload] = nil
        homes[workload] = nil
    }

    // MARK: services and agents

    public func desiredReplicas() async -> [String: ReplicaDemand] {
        var out: [String: ReplicaDemand] = [:]
        for m in members where isUp(m.name) {
            for (id, d) in await m.backend.desiredReplicas() where homes[id]?.cluster == m.name {
                out[id] = ReplicaDemand(replicas: d.replicas, runningOn: d.runningOn.map { FleetNodeName.join(cluster: m.name, node: $0) })
            }
        }
        return out
    }

    public func resize(workload: String, attempt: Int, nodes: [String]) async throws {
        guard let home = homes[workload], let m = byName[home.cluster] else { return }
        try await m.backend.resize(workload: workload, attempt: attempt, nodes: nodes.map { FleetNodeName.split($0)?.node ?? $0 })
    }

    public func endpoints(workload: String, attempt: Int, pods: Int) async -> [String] {
        guard let home = homes[workload], let m = byName[home.cluster] else { return [] }
        return await m.backend.endpoints(workload: workload, attempt: attempt, pods: pods)
    }

    public nonisolated var fetchesWorkdirOverAPI: Bool { true }

    public func onEvent(_ handler: @escaping @Sendable () -> Void) async {
        wake = handler
        for m in members { await m.backend.onEvent(handler) }
    }

    public nonisolated var placeName: String { "the clusters" }

    public func attest(serviceAccountToken: String) async -> PodAttestation? {
        for m in members where isUp(m.name) {
            if let a = await m.backend.attest(serviceAccountToken: serviceAccountToken), homes[a.workload]?.cluster == m.name { return a }
        }
        return nil
    }

    public nonisolated var inventoryCanGrow: Bool { true }

    public func contractChanged(_ contract: Contract) async {
        lostTimeout = TimeInterval(contract.platform.clusterLostTimeout.seconds)
        for m in members where isUp(m.name) { await m.backend.contractChanged(contract) }
    }

    // MARK: seeing it

    /// The cluster a workload's current attempt runs on.
    public func cluster(of workload: String) -> String? { homes[workload]?.cluster }

    public func clusterReports() async -> [ClusterReport] {
        var out: [ClusterReport] = []
        for m in members {
            let h = health[m.name] ?? ClusterHealth()
            var r = ClusterReport(name: m.name, region: m.region, reachable: h.reachable, lost: h.lost, lastContact: h.lastContact,
                                  unreachableSince: h.unreachableSince, dispatched: dispatched[m.name] ?? 0, rejected: rejected[m.name] ?? [:],
                                  failovers: failovers[m.name] ?? 0)
            if let s = m.backend as? any SyncsPlatform {
                let p = await s.platformState()
                r.drift = p.drift
                r.driftAt = p.driftAt
                r.platformErrors = p.errors
                r.lastSync = p.lastSync
            }
            out.append(r)
        }
        return out
    }
}

public struct FleetError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
