import Foundation

/// Everything the backend keeps of one workload, in one record: its objects, whether they exist, and where its current
/// attempt stands. Created when the workload is accepted (or adopted at start), removed when it is released.
struct WorkloadRecord {
    var objects: WorkloadObjects
    /// Its held objects are known to exist (created or adopted): admission needs no check of them.
    var prepared = false
    /// The attempt launched (or adopted running), and the node of each of its pod slots.
    var launched: Int?
    var nodes: [String] = []
    /// Attempts asked to stop, and when: reported stopped once their pods have left (or after the stop timeout).
    var stopping: [Int: Date] = [:]
    /// Attempts reported started.
    var started: Set<Int> = []
    /// Pods reported ended, by attempt and slot: each is reported once.
    var reported: Set<AttemptPod> = []

    init(objects: WorkloadObjects) { self.objects = objects }

    /// The launched attempt, unless it is being stopped.
    var running: Int? { launched.flatMap { stopping[$0] == nil ? $0 : nil } }
}

struct AttemptPod: Hashable {
    var attempt: Int
    var pod: Int
}
