import TarmacCore
import Foundation
import TarmacManifests

/// How the pods of one attempt ended, read from its controller's conditions and its pods' states. Pure: the same
/// objects and time give the same exits. The caller reports each (attempt, pod) once.
public enum AttemptStatus {
    public struct Input {
        public var objects: WorkloadObjects
        public var attempt: Int
        /// The Job or Deployment (nil: not seen).
        public var controller: [String: Any]?
        /// Every pod of this workload (any attempt).
        public var pods: [[String: Any]]
        public var now: Date
        /// How long a pod may stay Unschedulable before it counts as failed (a pod of the previous attempt may still be leaving).
        public var unschedulableGrace: TimeInterval

        public init(objects: WorkloadObjects, attempt: Int, controller: [String: Any]?, pods: [[String: Any]], now: Date, unschedulableGrace: TimeInterval) {
            self.objects = objects
            self.attempt = attempt
            self.controller = controller
            self.pods = pods
            self.now = now
            self.unschedulableGrace = unschedulableGrace
        }
    }

    /// Waiting reasons that mean the pod cannot start, and how they are classified. ErrImagePull alone may be a blip: the
    /// kubelet's back-off that follows it is not.
    static let waiting: [String: PodExit.Reason] = [
        "ImagePullBackOff": .imagePull, "InvalidImageName": .imagePull, "ErrImageNeverPull": .imagePull,
        "CreateContainerConfigError": .containerConfig, "CreateContainerError": .containerConfig,
    ]

    /// Each ending, with its pod's own start and end (see `runTimes`).
    public static func exits(_ input: Input) -> [PodExit] {
        let times = slotTimes(objects: input.objects, attempt: input.attempt, pods: input.pods)
        return endings(input).map { e in
            var e = e
            e.startedAt = times[e.pod]?.start
            e.finishedAt = times[e.pod]?.end
            return e
        }
    }

    /// When a pod's main containers really ran: the earliest `startedAt` of theirs (earlier runs of a restarted one
    /// included) and, once every one of them has terminated, the latest `finishedAt`. The pod's `startTime` (the kubelet
    /// took it, before its image was pulled) stands in only where no container says.
    public static func runTimes(_ pod: [String: Any]) -> (start: Date?, end: Date?) {
        let status = pod["status"] as? [String: Any] ?? [:]
        let containers = status["containerStatuses"] as? [[String: Any]] ?? []
        var starts: [Date] = []
        var ends: [Date] = []
        var allTerminated = !containers.isEmpty
        for c in containers {
            let state = c["state"] as? [String: Any] ?? [:]
            let last = (c["lastState"] as? [String: Any])?["terminated"] as? [String: Any]
            for s in [(state["running"] as? [String: Any])?["startedAt"], (state["terminated"] as? [String: Any])?["startedAt"], last?["startedAt"]] {
                if let d = (s as? String).flatMap(parseTime) { starts.append(d) }
            }
            if let t = state["terminated"] as? [String: Any], let d = (t["finishedAt"] as? String).flatMap(parseTime) { ends.append(d) } else { allTerminated = false }
        }
        let phase = status["phase"] as? String ?? ""
        let start = starts.min() ?? (["Running", "Succeeded", "Failed"].contains(phase) ? (status["startTime"] as? String).flatMap(parseTime) : nil)
        return (start, allTerminated ? ends.max() : nil)
    }

    /// The run times of an attempt's pod slots: a slot's pods (a Job may run one index more than once) from the first
    /// start to the last end.
    public static func slotTimes(objects o: WorkloadObjects, attempt: Int, pods all: [[String: Any]]) -> [Int: (start: Date?, end: Date?)] {
        let pods = all.filter { labels($0)[Naming.attemptLabel] == String(attempt) }
            .sorted { (index($0) ?? 0, name($0)) < (index($1) ?? 0, name($1)) }
        var out: [Int: (start: Date?, end: Date?)] = [:]
        for (rank, pod) in pods.enumerated() {
            let slot = o.isJob ? o.slot(ofIndex: index(pod) ?? 0) : rank
            let t = runTimes(pod)
            let had = out[slot]
            out[slot] = ([had?.start, t.start].compactMap { $0 }.min(), [had?.end, t.end].compactMap { $0 }.max())
        }
        return out
    }

    static func endings(_ input: Input) -> [PodExit] {
        let o = input.objects
        let pods = input.pods.filter { labels($0)[Naming.attemptLabel] == String(input.attempt) }
        let id = o.id, attempt = input.attempt
        func all(_ reason: PodExit.Reason, code: Int? = nil, detail: String? = nil) -> [PodExit] {
            (0..<o.podCount).map { PodExit(workload: id, attempt: attempt, pod: $0, reason: reason, exitCode: code, detail: detail) }
        }
        // The controller's verdict, when it has one and speaks for this attempt.
        if o.isJob, let job = input.controller, annotations(job)[Naming.attemptLabel] == String(attempt) {
            let conditions = (job["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
            func has(_ type: String) -> [String: Any]? { conditions.first { $0["type"] as? String == type && $0["status"] as? String == "True" } }
            if has("Complete") != nil { return all(.exited, code: 0) }
            if let failed = has("Failed") {
                let reason = failed["reason"] as? String ?? ""
                if reason == "DeadlineExceeded" { return all(.deadline, detail: failed["message"] as? String) }
                // The most telling failed pod speaks for the gang: out of memory first, then any exit.
                let ended = pods.compactMap { pod in terminated(pod).map { (pod, $0) } }
                    .sorted { a, b in (a.1.reason == .outOfMemory ? 0 : 1, index(a.0) ?? 0) < (b.1.reason == .outOfMemory ? 0 : 1, index(b.0) ?? 0) }
                if let (pod, exit) = ended.first {
                    return [PodExit(workload: id, attempt: attempt, pod: o.slot(ofIndex: index(pod) ?? 0), reason: exit.reason, exitCode: exit.code,
                                    signal: exit.signal, memoryLimitBytes: exit.reason == .outOfMemory ? o.memoryLimitBytes : nil, detail: exit.detail)]
                }
                return [PodExit(workload: id, attempt: attempt, pod: 0, reason: .exited, exitCode: 1,
                                detail: "Job failed (\(reason)): \(failed["message"] as? String ?? "")")]
            }
        }
        // Otherwise, a pod that cannot start or was evicted ends its slot now.
        var out: [PodExit] = []
        let ordered = pods.sorted { (index($0) ?? 0, name($0)) < (index($1) ?? 0, name($1)) }
        for (rank, pod) in ordered.enumerated() {
            let slot = o.isJob ? o.slot(ofIndex: index(pod) ?? 0) : rank
            guard slot < o.podCount else { continue }
            func exit(_ r: PodExit.Reason, code: Int? = nil, signal: Int? = nil, detail: String?) -> PodExit {
                PodExit(workload: id, attempt: attempt, pod: slot, reason: r, exitCode: code, signal: signal,
                        memoryLimitBytes: r == .outOfMemory ? o.memoryLimitBytes : nil, detail: detail)
            }
            let status = pod["status"] as? [String: Any] ?? [:]
            if status["reason"] as? String == "Evicted" {
                out.append(exit(.evicted, detail: status["message"] as? String))
                continue
            }
            let podConditions = status["conditions"] as? [[String: Any]] ?? []
            if status["phase"] as? String == "Failed",
               let d = podConditions.first(where: { $0["type"] as? String == "DisruptionTarget" && $0["status"] as? String == "True" }) {
                out.append(exit(.evicted, detail: "\(d["reason"] as? String ?? "disrupted"): \(d["message"] as? String ?? "")"))
                continue
            }
            if let w = waitingReason(pod), let r = waiting[w.reason] {
                out.append(exit(r, detail: "\(w.reason): \(w.message)"))
                continue
            }
            if let s = podConditions.first(where: { $0["type"] as? String == "PodScheduled" && $0["status"] as? String == "False" && $0["reason"] as? String == "Unschedulable" }) {
                let since = (s["lastTransitionTime"] as? String).flatMap(parseTime) ?? input.now
                if input.now.timeIntervalSince(since) >= input.unschedulableGrace {
                    out.append(exit(.unschedulable, detail: s["message"] as? String))
                }
                continue
            }
            // A model file that is not the registered bytes: at once, not after the restarts' back-off.
            if let tampered = modelTampered(pod) {
                out.append(exit(.modelTampered, code: WorkloadObjects.modelTamperedExit, detail: tampered))
                continue
            }
            // A service's container that keeps failing: its last ending is the cause.
            if !o.isJob, let w = waitingReason(pod), w.reason == "CrashLoopBackOff", let last = lastTerminated(pod) {
                out.append(exit(last.reason, code: last.code, signal: last.signal, detail: last.detail))
            }
        }
        return out
    }

    struct Ending {
        var reason: PodExit.Reason
        var code: Int?
        var signal: Int?
        var detail: String?
    }

    /// The main container's terminated state of a failed pod.
    static func terminated(_ pod: [String: Any]) -> Ending? {
        guard (pod["status"] as? [String: Any])?["phase"] as? String == "Failed" else { return nil }
        for c in containerStatuses(pod) {
            if let t = (c["state"] as? [String: Any])?["terminated"] as? [String: Any] { return ending(t, container: c["name"] as? String) }
        }
        let status = pod["status"] as? [String: Any] ?? [:]
        return Ending(reason: .exited, code: nil, signal: nil, detail: "\(status["reason"] as? String ?? "Failed"): \(status["message"] as? String ?? "")")
    }

    /// The model init container's ending when it found tampered bytes (now or on its last run).
    static func modelTampered(_ pod: [String: Any]) -> String? {
        let inits = (pod["status"] as? [String: Any])?["initContainerStatuses"] as? [[String: Any]] ?? []
        for c in inits where c["name"] as? String == WorkloadObjects.modelInit {
            for key in ["state", "lastState"] {
                if let t = (c[key] as? [String: Any])?["terminated"] as? [String: Any], t["exitCode"] as? Int == WorkloadObjects.modelTamperedExit {
                    return [t["reason"] as? String, t["message"] as? String].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                }
            }
        }
        return nil
    }

    static func lastTerminated(_ pod: [String: Any]) -> Ending? {
        for c in containerStatuses(pod) {
            if let t = (c["lastState"] as? [String: Any])?["terminated"] as? [String: Any] { return ending(t, container: c["name"] as? String) }
        }
        return nil
    }

    static func ending(_ t: [String: Any], container: String? = nil) -> Ending {
        let reason = t["reason"] as? String ?? ""
        let code = t["exitCode"] as? Int
        let detail = [reason, t["message"] as? String ?? ""].filter { !$0.isEmpty }.joined(separator: ": ")
        // The model's init container found a file that is not the registered bytes: nothing was served.
        if container == WorkloadObjects.modelInit, code == WorkloadObjects.modelTamperedExit {
            return Ending(reason: .modelTampered, code: code, signal: nil, detail: detail.isEmpty ? "a model file is not the registered bytes" : detail)
        }
        if reason == "OOMKilled" { return Ending(reason: .outOfMemory, code: code, signal: nil, detail: detail) }
        return Ending(reason: .exited, code: code, signal: (t["signal"] as? Int).flatMap { $0 == 0 ? nil : $0 }, detail: detail.isEmpty ? nil : detail)
    }

    static func waitingReason(_ pod: [String: Any]) -> (reason: String, message: String)? {
        for c in containerStatuses(pod) {
            if let w = (c["state"] as? [String: Any])?["waiting"] as? [String: Any], let r = w["reason"] as? String {
                return (r, w["message"] as? String ?? "")
            }
        }
        return nil
    }

    static func containerStatuses(_ pod: [String: Any]) -> [[String: Any]] {
        let status = pod["status"] as? [String: Any] ?? [:]
        return (status["initContainerStatuses"] as? [[String: Any]] ?? []) + (status["containerStatuses"] as? [[String: Any]] ?? [])
    }

    public static func labels(_ o: [String: Any]) -> [String: String] { (o["metadata"] as? [String: Any])?["labels"] as? [String: String] ?? [:] }
    public static func annotations(_ o: [String: Any]) -> [String: String] { (o["metadata"] as? [String: Any])?["annotations"] as? [String: String] ?? [:] }
    public static func name(_ o: [String: Any]) -> String { (o["metadata"] as? [String: Any])?["name"] as? String ?? "" }
    public static func namespace(_ o: [String: Any]) -> String? { (o["metadata"] as? [String: Any])?["namespace"] as? String }

    /// A Job pod's completion index (annotation, or label on newer clusters).
    public static func index(_ pod: [String: Any]) -> Int? {
        (annotations(pod)["batch.kubernetes.io/job-completion-index"] ?? labels(pod)["batch.kubernetes.io/job-completion-index"]).flatMap { Int($0) }
    }

    static func parseTime(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}
