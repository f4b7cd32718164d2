import Foundation
import TarmacManifests

/// Exact per-pod placement. A workload's pods are created with a scheduling gate, so the scheduler leaves them alone;
/// once admitted, each gated pod of the attempt gets a required node affinity on exactly one node (the mutable
/// scheduling directives of a gated pod), and its gate removed in the same patch. A Job pod's node follows from its
/// completion index (its slot); a Deployment's pods, which have no index, fill the nodes that still lack pods. The
/// scheduler then binds each pod to its node, so a gang placed 2+1 lands 2+1. Pure.
public enum PodPinning {
    public static let gate = "tarmac.dev/placement"
    /// The controller's annotation holding the node of each slot, comma-separated, for the attempt it runs.
    public static let placementAnnotation = "tarmac.dev/placement"

    public static func isGated(_ pod: [String: Any]) -> Bool {
        ((pod["spec"] as? [String: Any])?["schedulingGates"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == gate }
    }

    /// The node a pod is on or pinned to: where it is bound, else the single node its required affinity allows.
    public static func node(of pod: [String: Any]) -> String? {
        let spec = pod["spec"] as? [String: Any] ?? [:]
        if let n = spec["nodeName"] as? String, !n.isEmpty { return n }
        let terms = ((((spec["affinity"] as? [String: Any])?["nodeAffinity"] as? [String: Any])?["requiredDuringSchedulingIgnoredDuringExecution"]
            as? [String: Any])?["nodeSelectorTerms"] as? [[String: Any]]) ?? []
        let names = Set(terms.compactMap { term -> String? in
            (term["matchFields"] as? [[String: Any]] ?? []).first { $0["key"] as? String == "metadata.name" && $0["operator"] as? String == "In" }
                .flatMap { ($0["values"] as? [String])?.count == 1 ? ($0["values"] as? [String])?.first : nil }
        })
        return names.count == 1 ? names.first : nil
    }

    /// Which node each gated pod goes to. `placement`: the node of each slot. `pods`: the attempt's pods that have not
    /// finished. Pods already on a node or pinned count against their node; a Job pod takes its slot's node; any other
    /// pod takes the first node (in slot order) that has fewer pods than slots.
    public static func assign(placement: [String], pods: [[String: Any]], isJob: Bool) -> [(pod: String, node: String)] {
        guard !placement.isEmpty else { return [] }
        var want: [String: Int] = [:]
        for n in placement { want[n, default: 0] += 1 }
        var have: [String: Int] = [:]
        for p in pods where !isGated(p) { if let n = node(of: p) { have[n, default: 0] += 1 } }
        var out: [(String, String)] = []
        let gated = pods.filter(isGated).sorted { (AttemptStatus.index($0) ?? Int.max, AttemptStatus.name($0)) < (AttemptStatus.index($1) ?? Int.max, AttemptStatus.name($1)) }
        for p in gated {
            let target: String?
            if isJob, let i = AttemptStatus.index(p) {
                target = placement[i % placement.count]
            } else {
                target = placement.first { have[$0, default: 0] < want[$0, default: 0] }
            }
            guard let target else { continue }  // more pods than slots: it stays gated (the engine admitted no more)
            have[target, default: 0] += 1
            out.append((AttemptStatus.name(p), target))
        }
        return out
    }

    /// The merge patch that pins a gated pod to `node` and removes the gate: the node requirement is added to each of
    /// the pod's required node-affinity terms (narrowing them, as a gated pod allows), or becomes the only term.
    public static func patch(_ pod: [String: Any], to node: String) -> [String: Any] {
        let spec = pod["spec"] as? [String: Any] ?? [:]
        var affinity = spec["affinity"] as? [String: Any] ?? [:]
        var nodeAffinity = affinity["nodeAffinity"] as? [String: Any] ?? [:]
        var required = nodeAffinity["requiredDuringSchedulingIgnoredDuringExecution"] as? [String: Any] ?? [:]
        let field: [String: Any] = ["key": "metadata.name", "operator": "In", "values": [node]]
        var terms = required["nodeSelectorTerms"] as? [[String: Any]] ?? []
        if terms.isEmpty {
            terms = [["matchFields": [field]]]
        } else {
            terms = terms.map { t in
                var t = t
                t["matchFields"] = (t["matchFields"] as? [[String: Any]] ?? []) + [field]
                return t
            }
        }
        required["nodeSelectorTerms"] = terms
        nodeAffinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
        affinity["nodeAffinity"] = nodeAffinity
        let gates = (spec["schedulingGates"] as? [[String: Any]] ?? []).filter { $0["name"] as? String != gate }
        return ["spec": ["affinity": affinity, "schedulingGates": gates.isEmpty ? NSNull() : gates as Any]]
    }
}
