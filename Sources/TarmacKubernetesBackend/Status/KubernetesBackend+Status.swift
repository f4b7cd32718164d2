import Foundation
import TarmacCore
import TarmacKubernetes
import TarmacManifests

/// How attempts end, read from the cache (`AttemptStatus` triages each pod), and what a restart finds of them.
extension KubernetesBackend {
    public func poll() async -> [PodExit] {
        var out: [PodExit] = []
        let now = clock.now
        let byWorkload = podsByWorkload()
        await pinGatedPods(byWorkload)
        for (id, r) in workloads {
            guard let attempt = r.launched else { continue }
            let o = r.objects
            if let since = r.stopping[attempt] {
                // Stopped: reported once its pods have left (their capacity is free again), or after the timeout.
                let left = (byWorkload[id] ?? []).filter { AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt) && !ClusterInventory.isFinished($0) }
                if left.isEmpty || now.timeIntervalSince(since) > options.stopTimeout {
                    for pod in 0..<o.podCount where workloads[id]!.reported.insert(AttemptPod(attempt: attempt, pod: pod)).inserted {
                        out.append(PodExit(workload: id, attempt: attempt, pod: pod, reason: .stopped))
                    }
                    workloads[id]?.stopping[attempt] = nil
                }
                continue
            }
            let exits = AttemptStatus.exits(.init(objects: o, attempt: attempt, controller: controller(of: o), pods: byWorkload[id] ?? [],
                                                  now: now, unschedulableGrace: options.unschedulableGrace))
            for e in exits where workloads[id]!.reported.insert(AttemptPod(attempt: attempt, pod: e.pod)).inserted { out.append(e) }
        }
        return out
    }

    public func recover(workload: String, attempt: Int, pods: Int) async -> [PodRecovery] {
        guard let o = workloads[workload]?.objects else { return Array(repeating: .notStarted, count: pods) }
        guard let live = controller(of: o), AttemptStatus.annotations(live)[Naming.attemptLabel] == String(attempt) else {
            return Array(repeating: .notStarted, count: pods)
        }
        let spec = live["spec"] as? [String: Any] ?? [:]
        let held = o.isJob ? (spec["suspend"] as? Bool ?? false) && !Self.isFinished(live) : (spec["replicas"] as? Int ?? 0) == 0
        if held { return Array(repeating: .notStarted, count: pods) }
        workloads[workload]?.launched = attempt
        if let nodes = AttemptStatus.annotations(live)[PodPinning.placementAnnotation]?.split(separator: ",").map(String.init), nodes.count == pods {
            workloads[workload]?.nodes = nodes
        }
        let mine = cache[.pods].values.filter { AttemptStatus.labels($0)[Naming.workloadIDLabel] == workload }
        let exits = AttemptStatus.exits(.init(objects: o, attempt: attempt, controller: live, pods: Array(mine), now: clock.now, unschedulableGrace: options.unschedulableGrace))
        var result = Array(repeating: PodRecovery.running, count: pods)
        for e in exits where e.pod < pods && workloads[workload]!.reported.insert(AttemptPod(attempt: attempt, pod: e.pod)).inserted {
            result[e.pod] = .finished(e)
        }
        return result
    }
}
