import Foundation
import Testing
import TarmacKubernetesBackend

/// Exact per-pod placement: which node each gated pod gets, and the patch that pins it.
@Suite struct PodPinningTests {
    static func pod(_ name: String, index: Int? = nil, gated: Bool = true, node: String? = nil, affinity: [String: Any]? = nil) -> [String: Any] {
        var spec: [String: Any] = ["containers": [["name": "main"]]]
        if gated { spec["schedulingGates"] = [["name": "tarmac.dev/placement"]] }
        if let node { spec["nodeName"] = node }
        if let affinity { spec["affinity"] = affinity }
        var meta: [String: Any] = ["name": name]
        if let index { meta["annotations"] = ["batch.kubernetes.io/job-completion-index": String(index)] }
        return ["metadata": meta, "spec": spec]
    }

    @Test func aGangPlacedTwoPlusOneLandsTwoPlusOne() {
        let placement = ["gpu-a", "gpu-a", "gpu-b"]
        let pods = [Self.pod("j-2", index: 2), Self.pod("j-0", index: 0), Self.pod("j-1", index: 1)]
        let a = PodPinning.assign(placement: placement, pods: pods, isJob: true)
        #expect(a.map { "\($0.pod)=\($0.node)" } == ["j-0=gpu-a", "j-1=gpu-a", "j-2=gpu-b"])
        // A batch job's later tasks take their slot's node (index modulo the pods running at once).
        #expect(PodPinning.assign(placement: placement, pods: [Self.pod("j-7", index: 7)], isJob: true).first?.node == "gpu-a")
    }

    @Test func deploymentPodsFillTheNodesThatLackThem() {
        let placement = ["l4-0", "l4-1", "l4-1"]
        // One replica already runs on l4-1; a replacement and two new ones are gated.
        let pods = [Self.pod("d-x", gated: false, node: "l4-1"), Self.pod("d-c"), Self.pod("d-a"), Self.pod("d-b")]
        let a = PodPinning.assign(placement: placement, pods: pods, isJob: false)
        #expect(a.map { "\($0.pod)=\($0.node)" } == ["d-a=l4-0", "d-b=l4-1"], "the third gated pod has no slot left and stays gated")
        // A pod pinned earlier (not bound yet) counts against its node too.
        let pinned = Self.pod("d-p", gated: false, affinity: ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [["matchFields": [["key": "metadata.name", "operator": "In", "values": ["l4-0"]]]]]]]])
        #expect(PodPinning.node(of: pinned) == "l4-0")
        #expect(PodPinning.assign(placement: placement, pods: [pinned, Self.pod("d-q")], isJob: false).first?.node == "l4-1")
    }

    @Test func thePatchNarrowsEveryTermAndRemovesOnlyTarmacsGate() throws {
        let pool: [String: Any] = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [
            ["matchExpressions": [["key": "tarmac.dev/pool", "operator": "In", "values": ["train-h100"]]]],
            ["matchExpressions": [["key": "tarmac.dev/pool", "operator": "In", "values": ["train-h100-spot"]]]],
        ]]], "podAffinity": ["x": 1]]
        var p = Self.pod("j-0", index: 0, affinity: pool)
        var spec = p["spec"] as! [String: Any]
        spec["schedulingGates"] = [["name": "tarmac.dev/placement"], ["name": "example.com/other"]]
        p["spec"] = spec
        let patch = PodPinning.patch(p, to: "gpu-b")
        let patched = try #require(patch["spec"] as? [String: Any])
        let aff = try #require(patched["affinity"] as? [String: Any])
        #expect(aff["podAffinity"] != nil, "other affinity stays")
        let terms = try #require(((aff["nodeAffinity"] as? [String: Any])?["requiredDuringSchedulingIgnoredDuringExecution"] as? [String: Any])?["nodeSelectorTerms"] as? [[String: Any]])
        #expect(terms.count == 2)
        for t in terms {
            #expect((t["matchExpressions"] as? [Any])?.count == 1, "existing requirements are kept")
            #expect((t["matchFields"] as? [[String: Any]])?.first?["values"] as? [String] == ["gpu-b"])
        }
        #expect((patched["schedulingGates"] as? [[String: Any]])?.map { $0["name"] as? String } == ["example.com/other"])
        // With no other gate and no affinity: one term, and the gate list removed (null in a merge patch).
        let simple = try #require(PodPinning.patch(Self.pod("j-1", index: 1), to: "gpu-a")["spec"] as? [String: Any])
        #expect(simple["schedulingGates"] is NSNull)
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["spec": simple], options: [.sortedKeys]), as: UTF8.self)
        #expect(body.contains(#""matchFields":[{"key":"metadata.name","operator":"In","values":["gpu-a"]}]"#), "\(body)")
    }
}
