import TarmacCore

/// Usage by team, summed from transitions: pure, so the numbers a test or a budget sees are the ones `/metrics` shows.
public struct MeteringLedger: Sendable, Hashable {
    public private(set) var gpuSeconds: [String: Double] = [:]
    public private(set) var cpuSeconds: [String: Double] = [:]
    public private(set) var admissions: [String: Int] = [:]
    public private(set) var preemptions: [String: Int] = [:]
    /// Ended workloads by team and final state.
    public private(set) var completions: [String: [String: Int]] = [:]

    public init() {}

    /// What one transition adds.
    public struct Entry: Sendable, Hashable {
        public var team: String
        public var gpuSeconds: Double
        public var cpuSeconds: Double
        public var admitted: Bool
        public var preempted: Bool
        /// The final state, when the workload ended.
        public var completed: String?
    }

    @discardableResult
    public mutating func record(_ t: Transition) -> Entry {
        let entry = Entry(team: t.team, gpuSeconds: max(0, t.gpuSeconds), cpuSeconds: max(0, t.cpuSeconds), admitted: t.event == "admit",
                          preempted: t.event == "preempt", completed: t.to.isTerminal && t.from?.isTerminal != true ? t.to.rawValue : nil)
        gpuSeconds[t.team, default: 0] += entry.gpuSeconds
        cpuSeconds[t.team, default: 0] += entry.cpuSeconds
        if entry.admitted { admissions[t.team, default: 0] += 1 }
        if entry.preempted { preemptions[t.team, default: 0] += 1 }
        if let state = entry.completed { completions[t.team, default: [:]][state, default: 0] += 1 }
        return entry
    }
}
