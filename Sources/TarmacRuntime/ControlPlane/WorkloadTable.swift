import TarmacCore

/// Every workload the control plane keeps, with the indexes the loop reads instead of scanning them all. One value
/// with one way in (`upsert`): the indexes follow each record's state and cannot drift from it.
struct WorkloadTable {
    private(set) var records: [String: TrackedWorkload] = [:]
    /// Workload id by scoped request id (every workload that was submitted with one).
    private(set) var byRequest: [String: String] = [:]
    /// Workloads not yet ended: the loop looks only at these.
    private(set) var live: Set<String> = []
    /// Waiting in the queue, and holding capacity (admitted or running).
    private(set) var queued: Set<String> = []
    private(set) var holding: Set<String> = []
    /// Queued workloads in retry backoff (looked at again when it expires).
    private(set) var backingOff: Set<String> = []
    /// Workload id by `team/env/kind/name`, for the workloads not yet ended: one name, one active workload.
    private(set) var activeNames: [String: String] = [:]
    /// How many workloads of each team are queued and hold capacity (for gauges).
    private(set) var queuedPerTeam: [String: Int] = [:]
    private(set) var holdingPerTeam: [String: Int] = [:]

    subscript(id: String) -> TrackedWorkload? { records[id] }

    var count: Int { records.count }

    mutating func reserveCapacity(_ n: Int) { records.reserveCapacity(n) }

    /// Inserts or replaces a record and keeps every index in step with it.
    mutating func upsert(_ t: TrackedWorkload) {
        let e = t.entry
        records[e.id] = t
        if let r = e.requestID { byRequest[r] = e.id }
        let key = Self.nameKey(team: e.team, env: e.env, kind: e.kind, name: e.name)
        if e.state.isTerminal {
            live.remove(e.id)
            if activeNames[key] == e.id { activeNames[key] = nil }
        } else {
            live.insert(e.id)
            activeNames[key] = e.id
        }
        if e.state == .queued {
            if queued.insert(e.id).inserted { queuedPerTeam[e.team, default: 0] += 1 }
        } else if queued.remove(e.id) != nil {
            queuedPerTeam[e.team, default: 1] -= 1
        }
        if e.state.holdsCapacity {
            if holding.insert(e.id).inserted { holdingPerTeam[e.team, default: 0] += 1 }
        } else if holding.remove(e.id) != nil {
            holdingPerTeam[e.team, default: 1] -= 1
        }
        if e.state == .queued, e.notBefore != nil { backingOff.insert(e.id) } else { backingOff.remove(e.id) }
    }

    /// The active workload of a name (`team/env/kind/name`), if one has not ended.
    func active(team: String, env: String, kind: String, name: String) -> String? {
        activeNames[Self.nameKey(team: team, env: env, kind: kind, name: name)]
    }

    static func nameKey(team: String, env: String, kind: String, name: String) -> String { "\(team)/\(env)/\(kind)/\(name)" }
}
