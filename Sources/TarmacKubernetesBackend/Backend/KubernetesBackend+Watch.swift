import TarmacKubernetes
import TarmacManifests

extension WatchedResource {
    static let nodes = WatchedResource("nodes", path: "/api/v1/nodes", key: .name)
    static let pods = WatchedResource("pods", path: "/api/v1/pods", key: .namespacedName)
    /// Jobs and Deployments of Tarmac's workloads, by workload id.
    static let jobs = WatchedResource("jobs", path: "/apis/batch/v1/jobs", labelSelector: Naming.workloadIDLabel, key: .label(Naming.workloadIDLabel))
    static let deployments = WatchedResource("deployments", path: "/apis/apps/v1/deployments", labelSelector: Naming.workloadIDLabel,
                                             key: .label(Naming.workloadIDLabel))
}

/// The object cache: one `ResourceWatch` per resource feeds it; reads cost no requests.
extension KubernetesBackend {
    func watch(_ r: WatchedResource) {
        let w = ResourceWatch(r, client: client, deliver: { [self] event in await self.apply(event, to: r) },
                              failed: { [self] error in await self.noteWatchError(r, error) })
        // The task holds the backend until `shutdown()` cancels it.
        tasks.append(Task { try? await w.run() })
    }

    func noteWatchError(_ r: WatchedResource, _ error: any Error) {
        cache.failed(r, error)
        logger.warning("list/watch failed; retrying", metadata: ["resource": "\(r)", "error": "\(error)"])
    }

    func apply(_ event: WatchEvent, to r: WatchedResource) {
        switch cache.apply(event, to: r) {
        case .relisted:
            if Self.wakes(r.name, nil, before: nil) { wake?() }
        case .object(let before, let after):
            if Self.wakes(r.name, after, before: r == .pods ? before : nil) { wake?() }
        case .ignored:
            break
        }
    }

    /// Whether a watched change is one the control plane's loop acts on, so it should not wait for its next tick: a pod
    /// that appears (to be pinned), changes phase (started, ended) or goes; a Job or Deployment that changes. Other pod
    /// updates (conditions, container statuses) and nodes (the inventory is refreshed on its own period) wait.
    /// `object` nil: gone, or the whole list read again; `before` nil: not seen before.
    static func wakes(_ resource: String, _ object: [String: Any]?, before: [String: Any]?) -> Bool {
        switch resource {
        case "nodes": return false
        case "pods":
            guard let object, before != nil else { return true }
            func phase(_ o: [String: Any]?) -> String? { (o?["status"] as? [String: Any])?["phase"] as? String }
            return phase(object) != phase(before)
        default: return true
        }
    }
}
