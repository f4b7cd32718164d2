import TarmacCore
import TarmacKinds
import Crypto
import Foundation
import Logging
import Metrics
import Synchronization
import TarmacAPI
import TarmacContract
import TarmacEngine
import TarmacMetering
import TarmacModel
import TarmacPlanning

public struct ControlPlaneConfig: Sendable {
    /// Seconds between SIGTERM and SIGKILL when a pod is stopped.
    public var graceSeconds: Double
    /// How often the loop looks for ended pods and runs a scheduling cycle when something changed.
    public var tick: Duration
    /// A scheduling cycle runs at least this often, even when nothing changed (backoffs expire).
    public var idleCycle: Duration
    /// A full cycle — every queued workload examined, not only those something could have let in — runs at least this
    /// often: what time alone changes (a reservation comes due, a victim's minimum runtime passes) is seen then. When the
    /// last full cycle took longer than a twentieth of this, the next periodic one waits twenty times its cost instead.
    public var fullCycle: Duration
    public var placementPolicy: PolicyName
    /// How often the backend's node inventory is read again (nodes join, leave, are cordoned, or other pods take GPUs).
    public var inventoryRefresh: Duration
    /// The URL pods reach this control plane's API at (`TARMAC_CHECKPOINT_URL` is built from it); nil: pods get none.
    public var advertiseURL: String?
    /// The key workload credentials (checkpoint tokens) are derived from; the same key across restarts keeps running
    /// pods' tokens valid. A random one when not given.
    public var credentialKey: SymmetricKey
    /// Where pods reach the tool gateway (`TARMAC_GATEWAY_URL`); nil: no gateway.
    public var gatewayURL: String?

    public init(graceSeconds: Double = 10, tick: Duration = .milliseconds(20), idleCycle: Duration = .seconds(1), fullCycle: Duration = .seconds(10),
                placementPolicy: PolicyName = .tarmac, inventoryRefresh: Duration = .seconds(2), advertiseURL: String? = nil,
                credentialKey: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.graceSeconds = graceSeconds
        self.tick = tick
        self.idleCycle = idleCycle
        self.fullCycle = fullCycle
        self.placementPolicy = placementPolicy
        self.inventoryRefresh = inventoryRefresh
        self.advertiseURL = advertiseURL
        self.credentialKey = credentialKey
    }
}

/// The effect runner around the pure lifecycle (`WorkloadMachine`): it keeps one tracked record per workload, turns
/// decisions, API calls and backend reports into events, and runs each step's effects in order, the store first, then
/// the backend. Every persisted transition is published on `transitions`. A restart resumes from the store and what the
/// backend still has.
public actor ControlPlane {
    /// The platform contract in force (a reload replaces it; workloads keep the plan they were resolved with).
    public nonisolated var contract: Contract { current.withLock { $0 } }
    nonisolated let current: Mutex<Contract>
    /// The contract's tool catalogue, kept beside it: the tool gateway reads it on every call, and a copy of the whole
    /// contract (every resolved variant) costs more than the call's own checks.
    public nonisolated var tools: [String: Tool] { currentTools.withLock { $0 } }
    nonisolated let currentTools: Mutex<[String: Tool]>
    public nonisolated let platformName: String
    /// Every persisted transition, in order (`subscribe(after:)` replays stored ones first).
    public nonisolated let transitions: TransitionStream
    public nonisolated let store: any Store
    let backend: any Backend
    let config: ControlPlaneConfig
    /// Where it reads the time (the API's edges read it here too).
    public nonisolated let clock: any RuntimeClock
    let logger: Logger
    let machine: WorkloadMachine

    /// One record per workload the control plane knows, with its indexes.
    var tracked = WorkloadTable()
    /// Submits in flight, by scoped request id: a second submit with the same id waits for the first one's result.
    var submitting: [String: Task<SubmitResult, any Error>] = [:]
    /// Names being submitted right now (`team/env/kind/name`): two concurrent submits of one name cannot both pass.
    var reservedNames: Set<String> = []
    /// What `neverStarts` answered, by team, env, size and gang (cleared when the inventory or the contract changes).
    var feasibility: [String: String?] = [:]
    /// Workloads with a step in flight, and who waits for them: one step at a time per workload.
    var busy: [String: [CheckedContinuation<Void, Never>]] = [:]

    var nodes: [NodeInventory] = []
    var engine: EngineCluster
    var policy: any PlacementPolicy
    var rng = SplitMix64(seed: 0x7a4_ac)
    let scheduler = Scheduler()
    let wakeup = LoopWakeup()
    /// How long the last full cycle took (real time): the periodic one waits at least 20 times as long, so that a long
    /// queue nothing can enter does not spend more than a twentieth of the time being looked at again.
    /// What the scheduling loop remembers between turns (`LoopState`), and the engine's views of the workloads.
    var loop = LoopState()
    var views = EngineViews()
    var budgets = BudgetWatch()
    var idle = IdleJudge()
    /// The latest GPU reading of each workload holding GPUs (telemetry), for `get` and `why`.
    var gpuReadings: [String: WorkloadTelemetryView] = [:]
    /// Services woken from zero, and the attempt they had then: requests wait for the attempt after it.
    var wokenFromZero: [String: Int] = [:]
    public private(set) var ready = false
    /// Scheduling cycles run since start (tests wait for the loop to have looked again, instead of for a time).
    public var cycles: Int { loop.cycles }
    /// Scheduling cycles run since start (tests wait for the loop to have looked again, instead of for a time).

    public init(contract: Contract, store: any Store, backend: any Backend, config: ControlPlaneConfig = ControlPlaneConfig(),
                clock: any RuntimeClock = SystemClock(), logger: Logger = Logger(label: "tarmac.controlplane")) {
        self.current = Mutex(contract)
        self.currentTools = Mutex(contract.platform.tools)
        self.platformName = contract.platform.name
        self.store = store
        self.backend = backend
        self.config = config
        self.clock = clock
        self.logger = logger
        self.machine = WorkloadMachine(trustDomain: contract.platform.trustDomain)
        self.transitions = TransitionStream(store: store)
        self.engine = EngineCluster(contract: contract, nodes: [])
        self.policy = config.placementPolicy.make(typical: [])
    }

    // MARK: start and recovery

    /// Loads the store, takes the inventory and recovers admitted and running work from the backend.
    public func start() async throws {
        applyInventory(try await backend.nodes())
        loop.lastInventory = clock.now
        try await transitions.start()
        var resolved = 0
        let stored = try await store.loadWorkloads()
        tracked.reserveCapacity(stored.count)
        for s in stored {
            var plan = s.plan
            // Rows written before plans were stored: resolved once more from their document.
            if plan == nil && !s.entry.state.isTerminal {
                plan = Kinds.plan(source: s.entry.source, contract: contract)
                resolved += 1
            }
            tracked.upsert(TrackedWorkload(entry: s.entry, plan: s.entry.state.isTerminal ? nil : plan))
        }
        if resolved > 0 { logger.info("resolved stored documents without a stored plan", metadata: ["workloads": "\(resolved)"]) }
        // The backend adopts what belongs to these workloads and removes what belongs to none.
        try await backend.reconcile(tracked.records.values.compactMap { t in
            t.plan.map { ActiveWorkload(id: t.id, plan: $0, attempt: t.entry.attempt, holdsCapacity: t.state.holdsCapacity) }
        })
        var finished: [PodExit] = []
        // Only what has not ended is recovered (most stored workloads have).
        for t in tracked.live.compactMap({ tracked[$0] }).sorted(by: { $0.entry.createdAt < $1.entry.createdAt }) {
            let e = t.entry
            guard t.plan != nil else {
                try await apply(e.id, .recovered(.unresolvable))
                continue
            }
            guard e.state.holdsCapacity else { continue }
            // Earlier versions admitted services with `replicas: 0..N` with no pod at all: nothing would ever end them.
            if e.podCount == 0 {
                try await apply(e.id, .recovered(.noReplicas))
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
            try await apply(e.id, .recovered(.pods(missing: missing)))
        }
        for exit in finished { try await apply(exit.workload, .podExited(exit)) }
        ready = true
        loop.dirty = true
    }

    /// Builds the engine's cluster from the backend's nodes (see `EngineCluster`).
    func applyInventory(_ found: [NodeInventory]) {
        nodes = found
        engine = EngineCluster(contract: contract, nodes: found)
        views.stale = true
        feasibility = [:]
        loop.capacityFreed = true
        policy = config.placementPolicy.make(typical: engine.typical)
        loop.dirty = true
    }

    /// Puts a new contract in force (`tarmac up` on SIGHUP, once it loaded without errors): the engine's pools and quotas
    /// come from it from the next cycle on. Queued and running workloads keep the plan they were resolved with at submit;
    /// the platform's name cannot change under a running control plane.
    public func reload(_ next: Contract) async throws {
        guard next.platform.name == platformName else {
            throw RuntimeError(.invalid, "the platform's name changed (\(platformName) -> \(next.platform.name)); restart tarmac up to serve another platform")
        }
        guard next.platform.trustDomain == machine.trustDomain else {
            throw RuntimeError(.invalid, "the trust domain changed (\(machine.trustDomain) -> \(next.platform.trustDomain)); every workload identity would change: restart tarmac up to use it")
        }
        current.withLock { $0 = next }
        currentTools.withLock { $0 = next.platform.tools }
        await backend.contractChanged(next)
        applyInventory(nodes)
        budgets.due = true
        logger.notice("platform contract reloaded", metadata: ["teams": "\(next.platform.teams.count)", "sizes": "\(next.platform.sizes.values.map(\.count).reduce(0, +))"])
    }

    /// Reads the backend's inventory again; rebuilds the engine's cluster only when it changed.
    func refreshInventory() async {
        let now = clock.now
        guard now.timeIntervalSince(loop.lastInventory) >= config.inventoryRefresh.seconds else { return }
        loop.lastInventory = now
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

    // MARK: the loop

    /// One turn of the loop: collect what the backend reports, enforce deadlines, then schedule if anything changed
    /// (or the idle period passed).
    public func tick() async {
        await refreshInventory()
        await applyAll(await backend.poll().map { ($0.workload, .podExited($0)) }, what: "a pod's end")
        if backend.reportsStarts {
            await applyAll(await backend.started().map { ($0.workload, .started(attempt: $0.attempt, reportedByBackend: true, at: $0.at)) }, what: "a start")
        }
        await enforceDeadlines()
        await refreshBudgets()
        let now = clock.now
        if loop.dirty || now.timeIntervalSince(loop.lastCycle) >= config.idleCycle.seconds {
            loop.dirty = false
            loop.lastCycle = now
            do { try await cycle() } catch { logger.error("scheduling cycle failed", metadata: ["error": "\(error)"]) }
        }
        if now.timeIntervalSince(loop.lastGauges) >= 1 {
            loop.lastGauges = now
            recordGauges()
        }
    }

    /// Runs until the task is cancelled (graceful shutdown). Running pods are left running: the next start recovers them.
    public func run() async {
        let wakeup = self.wakeup
        await backend.onEvent { wakeup.signal() }
        while !Task.isCancelled {
            await tick()
            await wakeup.wait(upTo: config.tick)
        }
    }

    /// Runs the loop's next turn now instead of at its tick (after a submit, or when a backend knows of an event).
    public nonisolated func wake() { wakeup.signal() }

    /// Workloads past their `maxDuration` on the control plane's clock are stopped and fail (the backend may also
    /// enforce it on its own: whichever comes first).
    func enforceDeadlines() async {
        let now = clock.now
        for id in tracked.holding {
            guard let t = tracked[id], t.state.holdsCapacity else { continue }
            guard let limit = t.plan?.workload.maxDuration, let since = t.entry.startedAt ?? t.entry.admittedAt,
                  now.timeIntervalSince(since) >= Double(limit.seconds) else { continue }
            do { try await apply(t.id, .deadline) } catch { logger.error("could not record a deadline", metadata: ["error": "\(error)"]) }
        }
    }

    func recordGauges() {
        if views.stale { rebuildEngineViews() }
        var cpu: Int64 = 0, gpu: Int64 = 0
        for r in views.running.values {
            cpu += r.charged.cpuMilli
            for i in 0..<Resources.maxModels { gpu += r.charged.gpu[i] }
        }
        for team in contract.platform.teams.keys {
            Gauge(label: "tarmac_queue_depth", dimensions: [("team", team)]).record(tracked.queuedPerTeam[team] ?? 0)
            Gauge(label: "tarmac_running_workloads", dimensions: [("team", team)]).record(tracked.holdingPerTeam[team] ?? 0)
        }
        Gauge(label: "tarmac_cpu_allocated_cores", dimensions: [("pool", "local")]).record(Double(cpu) / 1000)
        Gauge(label: "tarmac_gpu_allocated", dimensions: [("pool", "local")]).record(Double(gpu) / 1000)
    }
}
