import Foundation
import Logging
import Metrics
import TarmacContract
import TarmacEngine
import TarmacModel
import TarmacSimulator

public struct ControlPlaneConfig: Sendable {
    /// Seconds between SIGTERM and SIGKILL when a pod is stopped.
    public var graceSeconds: Double
    /// How often the loop looks for ended pods and runs a scheduling cycle when something changed.
    public var tick: Duration
    /// A scheduling cycle runs at least this often, even when nothing changed (reservations age, backoffs expire).
    public var idleCycle: Duration
    public var placementPolicy: PolicyName
    /// How often the backend's node inventory is read again (nodes join, leave, are cordoned, or other pods take GPUs).
    public var inventoryRefresh: Duration

    public init(graceSeconds: Double = 10, tick: Duration = .milliseconds(50), idleCycle: Duration = .seconds(1),
                placementPolicy: PolicyName = .tarmac, inventoryRefresh: Duration = .seconds(2)) {
        self.graceSeconds = graceSeconds
        self.tick = tick
        self.idleCycle = idleCycle
        self.placementPolicy = placementPolicy
        self.inventoryRefresh = inventoryRefresh
    }
}

/// The control plane's state and its lifecycle loop. Every change is persisted (with its audit record) before it is
/// acted on, so a restart resumes from the store and what the backend still has.
public actor ControlPlane {
    public nonisolated let contract: Contract
    public nonisolated let platformName: String
    let store: any Store
    let backend: any Backend
    let config: ControlPlaneConfig
    let logger: Logger

    var workloads: [String: WorkloadEntry] = [:]
    var plans: [String: WorkloadPlan] = [:]
    var byRequest: [String: String] = [:]
    /// Submits in flight, by scoped request id: a second submit with the same id waits for the first one's result.
    var submitting: [String: Task<(workload: WorkloadEntry, created: Bool), any Error>] = [:]
    var reservedNames: Set<String> = []
    var waiting: [String: WaitReason] = [:]
    /// Pods of the current attempt that have ended, by workload id.
    var ended: [String: Set<Int>] = [:]
    var nodes: [NodeInventory] = []
    var base = ClusterState()
    var nodeIndex: [String: Int] = [:]
    /// Pool indices in the engine, by the contract's pool name.
    var poolIndex: [String: Int16] = [:]
    /// Workloads stored but not yet accepted by the backend: not scheduled until they are.
    var accepting: Set<String> = []
    var lastInventory = ContinuousClock.now
    var quotas: [TeamQuota] = []
    var policy: any PlacementPolicy
    var rng = SplitMix64(seed: 0x7a4_ac)
    let scheduler = Scheduler()
    var dirty = true
    var lastCycle = ContinuousClock.now
    public private(set) var ready = false

    public init(contract: Contract, store: any Store, backend: any Backend, config: ControlPlaneConfig = ControlPlaneConfig(),
                logger: Logger = Logger(label: "tarmac.controlplane")) {
        self.contract = contract
        self.platformName = contract.platform.name
        self.store = store
        self.backend = backend
        self.config = config
        self.logger = logger
        self.policy = config.placementPolicy.make(typical: [])
    }

    // MARK: start and recovery

    /// Loads the store, takes the inventory and recovers admitted and running work from the backend.
    public func start() async throws {
        applyInventory(try await backend.nodes())
        // Quotas name GPU models by index: the same contract-only inventory (no pool nodes) as the cluster's, so the indices agree.
        var p = contract.platform
        p.pools = [:]
        quotas = ContractInventory(platform: p).quotas
        for e in try await store.loadWorkloads() {
            workloads[e.id] = e
            if let r = e.requestID { byRequest[r] = e.id }
            if !e.state.isTerminal { plans[e.id] = WorkloadPlan(source: e.source, contract: contract, models: base) }
        }
        // The backend adopts what belongs to these workloads and removes what belongs to none.
        try await backend.reconcile(workloads.values.compactMap { e in
            plans[e.id].map { ActiveWorkload(id: e.id, workload: $0.workload, attempt: e.attempt, holdsCapacity: e.state.holdsCapacity) }
        })
        var finished: [PodExit] = []
        for e in workloads.values.sorted(by: { $0.createdAt < $1.createdAt }) where !e.state.isTerminal {
            guard plans[e.id] != nil else {
                try await finish(e.id, state: .failed, cause: "InvalidAfterRestart",
                                 message: "its document no longer resolves against the platform contract", actor: .lifecycle)
                continue
            }
            guard e.state.holdsCapacity else { continue }
            // Earlier versions admitted services with `replicas: 0..N` with no pod at all: nothing would ever end them.
            if e.podCount == 0 {
                if e.cancelRequested {
                    try await finish(e.id, state: .cancelled, cause: nil, message: "cancelled", actor: .lifecycle)
                } else {
                    try await finish(e.id, state: .failed, cause: "NoReplicas",
                                     message: "it was admitted with no replica by an earlier version; submit it again (it now starts at least one)", actor: .lifecycle)
                }
                continue
            }
            let found = await backend.recover(workload: e.id, attempt: e.attempt, pods: e.podCount)
            var missing: [Int] = []
            for (i, r) in found.enumerated() {
                switch r {
                case .notStarted: missing.append(i)
                case .running: break
                case .finished(let exit): finished.append(exit)
                }
            }
            logger.info("recovered workload", metadata: ["workload": "\(e.id)", "state": "\(e.state.rawValue)",
                                                          "running": "\(found.filter { $0 == .running }.count)", "missing": "\(missing.count)"])
            if !missing.isEmpty, !e.cancelRequested, let plan = plans[e.id] {
                let all = plan.launches(for: e, platformName: platformName, graceSeconds: config.graceSeconds)
                await launch(e.id, missing.map { all[$0] })
            } else if e.cancelRequested {
                await backend.stop(workload: e.id, attempt: e.attempt)
            }
            if !backend.reportsStarts, e.state == .admitted, let cur = workloads[e.id], cur.state == .admitted {
                try await markRunning(cur)
            }
        }
        for exit in finished { try await handle(exit) }
        ready = true
        dirty = true
    }

    /// Builds the engine's cluster from the backend's nodes: pools by the contract's pool names, topology domains by label value.
    func applyInventory(_ found: [NodeInventory]) {
        nodes = found
        var p = contract.platform
        p.pools = [:]
        var c = ContractInventory(platform: p).cluster
        poolIndex = [:]
        for (i, name) in contract.platform.pools.keys.sorted().enumerated() { poolIndex[name] = Int16(i) }
        var domains: [String: Int32] = [:]
        nodeIndex = [:]
        for n in found {
            let pool = n.pool.flatMap { poolIndex[$0] } ?? -1
            var domain: Int32 = 0
            if let d = n.domain {
                let key = (n.pool ?? "") + "/" + d
                if domains[key] == nil { domains[key] = Int32(domains.count + 1) }
                domain = domains[key]!
            }
            nodeIndex[n.name] = c.addNode(name: n.name, cpuMilli: Int32(clamping: n.cpuMilli), memoryMiB: Int32(clamping: n.memoryMiB),
                                          gpus: min(n.gpus, ClusterState.maxGPUsPerNode), model: n.accelerator, pool: pool, domain: domain)
        }
        // The fragmentation-aware policies weigh placements by the pods they expect: the contract's sizes, equally.
        var typical: [PodShape] = []
        for sizes in contract.platform.sizes.values { for s in sizes.values { typical.append(WorkloadPlan.shape(of: s, models: &c)) } }
        policy = config.placementPolicy.make(typical: TypicalPod.from(typical, coverage: 1))
        base = c
        dirty = true
    }

    /// Reads the backend's inventory again; rebuilds the engine's cluster only when it changed.
    func refreshInventory() async {
        guard ContinuousClock.now - lastInventory >= config.inventoryRefresh else { return }
        lastInventory = .now
        do {
            let found = try await backend.nodes()
            if found != nodes {
                logger.info("inventory changed", metadata: ["nodes": "\(found.count)", "before": "\(nodes.count)"])
                applyInventory(found)
            }
        } catch {
            logger.warning("could not read the inventory; keeping the last one", metadata: ["error": "\(error)"])
        }
    }

    /// Pools a plan may use, as engine indices (nil: any node, when no node belongs to a pool).
    func pools(for plan: WorkloadPlan) -> Set<Int16>? {
        guard nodes.contains(where: { $0.pool != nil }) else { return nil }
        return Set(plan.poolNames.compactMap { poolIndex[$0] })
    }

    // MARK: the loop

    /// One turn of the loop: collect ended pods, then schedule if anything changed (or the idle period passed).
    public func tick() async {
        await refreshInventory()
        let exits = await backend.poll()
        for exit in exits {
            do { try await handle(exit) } catch { logger.error("could not record a pod's end", metadata: ["error": "\(error)"]) }
        }
        if backend.reportsStarts {
            for a in await backend.started() {
                guard let e = workloads[a.workload], e.state == .admitted, e.attempt == a.attempt else { continue }
                do { try await markRunning(e) } catch { logger.error("could not record a start", metadata: ["error": "\(error)"]) }
            }
        }
        if dirty || ContinuousClock.now - lastCycle >= config.idleCycle {
            dirty = false
            lastCycle = .now
            do { try await cycle() } catch { logger.error("scheduling cycle failed", metadata: ["error": "\(error)"]) }
        }
        recordGauges()
    }

    /// Runs until the task is cancelled (graceful shutdown). Running pods are left running: the next start recovers them.
    public func run() async {
        while !Task.isCancelled {
            await tick()
            try? await Task.sleep(for: config.tick)
        }
    }

    func cycle() async throws {
        let now = Date()
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        var cluster = base
        var running: [RunningWorkload] = []
        for e in workloads.values where e.state.holdsCapacity {
            guard let plan = plans[e.id] else { continue }
            let pending = plan.pending(e, pools: pools(for: plan))
            let placements = e.placements.compactMap { p in nodeIndex[p.node].map { Placement(node: $0, gpus: GPUSet(p.gpus)) } }
            guard placements.count == pending.pods.count else { continue }
            for (pod, pl) in zip(pending.pods, placements) { cluster.assign(pod, to: pl) }
            running.append(RunningWorkload(workload: pending, placements: placements, charged: resources(e.charged),
                                           started: Int64((e.startedAt ?? e.admittedAt ?? now).timeIntervalSince1970 * 1000)))
        }
        var pending = workloads.values.filter { $0.state == .queued && !$0.cancelRequested && ($0.notBefore ?? .distantPast) <= now && !accepting.contains($0.id) }
            .compactMap { e in plans[e.id].map { $0.pending(e, pools: pools(for: $0)) } }
        // Replicas autoscalers ask for beyond the admitted ones wait for the engine like any pod (quota and placement).
        pending += try await replicaDemands(now: now)
        guard !pending.isEmpty else {
            waiting = [:]
            return
        }
        // The decision is a pure function of the snapshot: it runs off the actor, so submissions and reads go on meanwhile.
        let (decision, policy, rng) = await Self.decide(scheduler, Snapshot(now: nowMs, cluster: cluster, running: running, pending: pending, quotas: quotas),
                                                        policy: self.policy, rng: self.rng)
        self.policy = policy
        self.rng = rng
        waiting = decision.waiting.filter { !Self.isReplicaRequest($0.key) }
        for p in decision.preempted { try await preempt(p, now: now) }
        for a in decision.admitted {
            if Self.isReplicaRequest(a.id) {
                try await admitReplica(a, now: now)
            } else {
                try await admit(a, cluster: cluster, now: now)
            }
        }
    }

    @concurrent
    nonisolated static func decide(_ scheduler: Scheduler, _ snapshot: Snapshot, policy: any PlacementPolicy, rng: SplitMix64) async
        -> (Decision, any PlacementPolicy, SplitMix64) {
        var policy = policy, rng = rng
        let decision = scheduler.cycle(snapshot, policy: &policy, rng: &rng)
        return (decision, policy, rng)
    }

    func admit(_ a: Decision.Admission, cluster: ClusterState, now: Date) async throws {
        // It may have been cancelled while the cycle was deciding.
        guard var e = workloads[a.id], e.state == .queued, !e.cancelRequested, let plan = plans[a.id] else {
            dirty = true
            return
        }
        let before = e.digest
        e.state = .admitted
        e.attempt += 1
        e.admittedAt = now
        e.updatedAt = now
        e.message = nil
        e.notBefore = nil
        e.placements = a.placements.map {
            PodPlacement(node: base.names[$0.node], gpus: $0.gpus.indices, gpuMilli: plan.shape.gpuCount > 0 ? Int(plan.shape.gpuMilli) : 0)
        }
        e.charged = charge(a.charged)
        ended[e.id] = []
        let nodesText = Set(e.placements.map(\.node)).sorted().joined(separator: ",")
        try await save(e, AuditDraft(time: now, actor: .scheduler, action: "admit", object: object(e), before: before, after: e.digest,
                                     detail: "attempt \(e.attempt) on \(nodesText)"))
        Counter(label: "tarmac_admissions_total", dimensions: [("team", e.team)]).increment()
        logger.info("admitted", metadata: ["workload": "\(e.id)", "name": "\(e.name)", "team": "\(e.team)", "attempt": "\(e.attempt)"])
        await launch(e.id, plan.launches(for: e, platformName: platformName, graceSeconds: config.graceSeconds))
        // Running means its pods run: at launch for local processes; when the backend says so where placement takes time.
        if !backend.reportsStarts, let cur = workloads[e.id], cur.state == .admitted { try await markRunning(cur) }
    }

    func launch(_ id: String, _ pods: [PodLaunch]) async {
        do {
            try await backend.launch(pods)
        } catch {
            guard let e = workloads[id] else { return }
            let exit = PodExit(workload: id, attempt: e.attempt, pod: pods.first?.pod ?? 0, reason: .launchFailed, detail: "\(error)")
            try? await handle(exit)
        }
    }

    func markRunning(_ e0: WorkloadEntry) async throws {
        var e = e0
        let before = e.digest
        e.state = .running
        e.startedAt = Date()
        e.updatedAt = e.startedAt!
        try await save(e, AuditDraft(time: e.updatedAt, actor: .lifecycle, action: "run", object: object(e), before: before, after: e.digest,
                                     detail: "\(e.podCount) pod\(e.podCount == 1 ? "" : "s") \(backend.reportsStarts ? "running" : "started"); workload identity tarmac://\(platformName)/\(e.team)/\(e.env)/\(e.kind.lowercased())/\(e.name)"))
    }

    func preempt(_ p: Decision.Preemption, now: Date) async throws {
        guard var e = workloads[p.id], e.state.holdsCapacity else { return }
        let before = e.digest
        let attempt = e.attempt
        account(&e, until: now)
        e.state = .queued
        e.placements = []
        e.charged = nil
        e.updatedAt = now
        e.podCount = plans[e.id]?.workload.podCount ?? e.podCount
        e.message = "preempted by \(p.by) (\(p.reason)); back in the queue, resumes from its last checkpoint"
        // A preemption is not the workload's failure: it does not use up an attempt.
        e.maxAttempts += 1
        try await save(e, AuditDraft(time: now, actor: .scheduler, action: "preempt", object: object(e), before: before, after: e.digest,
                                     detail: "by \(p.by): \(p.reason)"))
        Counter(label: "tarmac_preemptions_total", dimensions: [("team", e.team)]).increment()
        await backend.stop(workload: e.id, attempt: attempt)
    }

    /// A pod ended: decide what that means for its workload.
    func handle(_ exit: PodExit) async throws {
        guard var e = workloads[exit.workload], e.state.holdsCapacity, exit.attempt == e.attempt else { return }
        let now = Date()
        var done = ended[e.id] ?? []
        done.insert(exit.pod)
        ended[e.id] = done
        if e.cancelRequested {
            guard done.count >= e.podCount else { return }
            try await finish(e.id, state: .cancelled, cause: nil, message: "cancelled", actor: .lifecycle)
            return
        }
        let isService = plans[e.id]?.isService ?? false
        if exit.succeeded && !isService {
            guard done.count >= e.podCount else { return }
            try await finish(e.id, state: .succeeded, cause: nil, message: "all \(e.podCount) pod\(e.podCount == 1 ? "" : "s") succeeded", actor: .lifecycle, exitCode: 0)
            return
        }
        var triage = Triage.of(exit)
        if exit.succeeded && isService {
            triage = Triage(cause: "ServiceExited", message: "pod \(exit.pod) of a long-running service exited with code 0", retryable: true)
        }
        // The rest of the gang cannot go on without this pod.
        if e.podCount > 1 { await backend.stop(workload: e.id, attempt: e.attempt) }
        if triage.retryable && e.attempt < e.maxAttempts {
            let before = e.digest
            account(&e, until: now)
            let delay = min(60.0, pow(2.0, Double(e.attempt - 1)))
            e.state = .queued
            e.placements = []
            e.charged = nil
            e.podCount = plans[e.id]?.workload.podCount ?? e.podCount
            e.cause = triage.cause
            e.exitCode = exit.exitCode
            e.notBefore = now.addingTimeInterval(delay)
            e.updatedAt = now
            e.message = "attempt \(e.attempt) of \(e.maxAttempts) failed (\(triage.cause): \(triage.message)); retrying in \(Int(delay))s"
            try await save(e, AuditDraft(time: now, actor: .lifecycle, action: "retry", object: object(e), before: before, after: e.digest,
                                         detail: triage.cause))
        } else {
            try await finish(e.id, state: .failed, cause: triage.cause, message: triage.message, actor: .lifecycle, exitCode: exit.exitCode)
        }
    }

    func finish(_ id: String, state: WorkloadState, cause: String?, message: String, actor: Actor, exitCode: Int? = nil) async throws {
        guard var e = workloads[id] else { return }
        let now = Date()
        let before = e.digest
        if e.state.holdsCapacity { account(&e, until: now) }
        e.state = state
        e.cause = cause
        e.message = message
        e.exitCode = exitCode ?? e.exitCode
        e.finishedAt = now
        e.updatedAt = now
        e.placements = []
        e.charged = nil
        let action = switch state {
        case .succeeded: "succeed"
        case .failed: "fail"
        case .cancelled: "cancel"
        default: state.rawValue
        }
        try await save(e, AuditDraft(time: now, actor: actor, action: action, object: object(e), before: before, after: e.digest,
                                     detail: cause.map { "\($0): \(message)" } ?? message))
        plans[id] = nil
        ended[id] = nil
        waiting[id] = nil
        accepting.remove(id)
        await backend.release(workload: id)
        Counter(label: "tarmac_completions_total", dimensions: [("team", e.team), ("state", state.rawValue)]).increment()
        logger.info("workload ended", metadata: ["workload": "\(e.id)", "name": "\(e.name)", "state": "\(state.rawValue)", "cause": "\(cause ?? "-")"])
    }

    /// Adds the attempt's GPU- and CPU-seconds (from its start) to the workload and the team's counters.
    func account(_ e: inout WorkloadEntry, until now: Date) {
        defer { e.accountedUntil = nil }
        accountSoFar(&e, until: now)
    }

    /// Accounts the attempt's GPU- and CPU-seconds up to `now` and remembers where it stopped (the attempt goes on).
    func accountSoFar(_ e: inout WorkloadEntry, until now: Date) {
        guard let start = e.accountedUntil ?? e.startedAt ?? e.admittedAt, let plan = plans[e.id] else { return }
        e.accountedUntil = now
        let seconds = max(0, now.timeIntervalSince(start))
        let gpus = Double(plan.shape.totalGPUMilli) / 1000 * Double(e.podCount)
        let cpus = Double(plan.shape.cpuMilli) / 1000 * Double(e.podCount)
        e.gpuSeconds += seconds * gpus
        e.cpuSeconds += seconds * cpus
        FloatingPointCounter(label: "tarmac_gpu_seconds_total", dimensions: [("team", e.team)]).increment(by: seconds * gpus)
        FloatingPointCounter(label: "tarmac_cpu_seconds_total", dimensions: [("team", e.team)]).increment(by: seconds * cpus)
    }

    func save(_ e: WorkloadEntry, _ audit: AuditDraft) async throws {
        try await store.update([e], audit: [audit])
        workloads[e.id] = e
        dirty = true
    }

    func object(_ e: WorkloadEntry) -> String { "workload/\(e.id)" }

    func resources(_ c: Charge?) -> Resources {
        guard let c else { return .zero }
        var r = Resources(cpuMilli: c.cpuMilli, memoryMiB: c.memoryMiB)
        for (name, milli) in c.gpuMilli { if let i = base.modelNames.firstIndex(of: name) { r.addGPU(i, milli) } }
        return r
    }

    func charge(_ r: Resources) -> Charge {
        var g: [String: Int64] = [:]
        for i in 0..<min(Resources.maxModels, base.modelNames.count) where r.gpu(i) != 0 { g[base.modelNames[i]] = r.gpu(i) }
        return Charge(cpuMilli: r.cpuMilli, memoryMiB: r.memoryMiB, gpuMilli: g)
    }

    func recordGauges() {
        var queued: [String: Int] = [:], running: [String: Int] = [:]
        var cpu = 0, gpu = 0
        for e in workloads.values {
            if e.state == .queued { queued[e.team, default: 0] += 1 }
            if e.state.holdsCapacity {
                running[e.team, default: 0] += 1
                if let plan = plans[e.id] {
                    cpu += Int(plan.shape.cpuMilli) * e.podCount
                    gpu += plan.shape.totalGPUMilli * e.podCount
                }
            }
        }
        for t in contract.platform.teams.keys {
            Gauge(label: "tarmac_queue_depth", dimensions: [("team", t)]).record(queued[t] ?? 0)
            Gauge(label: "tarmac_running_workloads", dimensions: [("team", t)]).record(running[t] ?? 0)
        }
        Gauge(label: "tarmac_cpu_allocated_cores", dimensions: [("pool", "local")]).record(Double(cpu) / 1000)
        Gauge(label: "tarmac_gpu_allocated", dimensions: [("pool", "local")]).record(Double(gpu) / 1000)
    }
}
