import Foundation
import TarmacEngine

/// What the scheduling loop remembers between turns: when it last ran each kind of work, and what the next cycle must
/// look at (Kueue's inadmissible workloads: only what something could have let in).
struct LoopState {
    /// Something changed since the last cycle: the next tick runs one.
    var dirty = true
    var lastCycle: Date = .distantPast
    /// When the last cycle started deciding (backoffs that expired since are looked at).
    var lastCycleRun: Date = .distantPast
    var lastFullCycle: Date = .distantPast
    /// How long the last full cycle took (on the clock's `elapsed`): the periodic one waits at least 20 times as long, so
    /// that a long queue nothing can enter does not spend more than a twentieth of the time being looked at again.
    var lastFullCycleCost: Duration = .zero
    var lastInventory: Date = .distantPast
    var lastGauges: Date = .distantPast
    /// Queued workloads the engine has not looked at since they (re)entered the queue.
    var fresh: Set<String> = []
    /// The nodes or the contract changed (or a workload that may run in any pool gave back room) since the last full
    /// cycle: the next one examines every queued workload.
    var capacityFreed = true
    /// Since the last cycle: the pools where a workload gave back room, and the quota groups (`cohort:NAME`, or
    /// `team:NAME` for a team without one) where it gave back quota. The next cycle also examines the queued workloads
    /// that may run in one of those pools or are charged to one of those groups; nothing else could have let the others in.
    var freedPools: Set<Int16> = []
    var freedGroups: Set<String> = []
    /// How many queued workloads the last cycle examined (and whether it examined all of them).
    var lastExamined = (count: 0, full: false)
    /// The workload the engine kept capacity for in the last cycle.
    var reservationHolder: String?
    /// Cycles run since start.
    var cycles = 0
}

/// The engine's view of each queued workload that may be scheduled (with when its backoff ends), and of each one that
/// holds capacity: kept current as workloads change, so a cycle builds its snapshot without reading every record.
struct EngineViews {
    var pending: [String: (workload: PendingWorkload, notBefore: Date?)] = [:] { didSet { generation &+= 1 } }
    var running: [String: RunningWorkload] = [:] { didSet { generation &+= 1 } }
    /// Changes with every change of `pending` or `running`: what a cached forecast of starts was made from.
    private(set) var generation = 0
    /// The last forecast of every queued workload's start (`StartEstimator.forecast`), with the generation and the
    /// budget holds it was made under.
    var forecast: (generation: Int, holds: [String], forecast: StartEstimator.Forecast)?
    /// Set when the engine's cluster changed (inventory, contract): the views are rebuilt at the next cycle.
    var stale = true
    /// Why each queued workload waits, as the last cycle that looked at it found.
    var waitReasons: [String: WaitReason] = [:]
}
