import Testing
import TarmacKubernetesBackend
import TarmacManifests

/// Drift is a difference in the fields Tarmac sets, not in the server's defaults or other managers' fields.
@Suite struct DriftTests {
    let quota = KubeObject("v1", "ResourceQuota", name: "tarmac-quota", namespace: "search-dev", labels: ["app.kubernetes.io/managed-by": "tarmac"],
                           body: ["spec": ["hard": ["requests.cpu": "10", "requests.nvidia.com/gpu": "8"]]])

    func live(cpu: String, labels: [String: String] = ["app.kubernetes.io/managed-by": "tarmac"]) -> [String: Any] {
        ["apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": ["name": "tarmac-quota", "namespace": "search-dev", "labels": labels, "resourceVersion": "42", "uid": "u"],
         "spec": ["hard": ["requests.cpu": cpu, "requests.nvidia.com/gpu": "8", "pods": "100"]],
         "status": ["used": ["requests.cpu": "2"]]]
    }

    @Test func defaultsAndOtherFieldsAreNotDrift() {
        #expect(Drift.differences(desired: quota, live: live(cpu: "10")).isEmpty)
    }

    @Test func changedAndMissingFieldsAreDrift() {
        #expect(Drift.differences(desired: quota, live: live(cpu: "20")) == ["spec.hard.requests.cpu: 20, want 10"])
        #expect(Drift.differences(desired: quota, live: live(cpu: "10", labels: [:])) == ["metadata.labels.app.kubernetes.io/managed-by: missing, want tarmac"])
        let policy = KubeObject("scheduling.k8s.io/v1", "PriorityClass", name: "tarmac-high", body: ["value": 1000, "preemptionPolicy": "Never", "globalDefault": false])
        let livePC: [String: Any] = ["metadata": ["name": "tarmac-high"], "value": 500, "preemptionPolicy": "Never", "globalDefault": false]
        #expect(Drift.differences(desired: policy, live: livePC) == ["value: 500, want 1000"])
    }

    @Test func zeroValuesTheServerOmitsAreNotDrift() {
        // A real API server drops `globalDefault: false` (omitempty): corrected at every start before this was understood.
        let pc = KubeObject("scheduling.k8s.io/v1", "PriorityClass", name: "tarmac-low", body: ["value": 0, "globalDefault": false, "description": ""])
        #expect(Drift.differences(desired: pc, live: ["metadata": ["name": "tarmac-low"]]).isEmpty)
        #expect(Drift.differences(desired: pc, live: ["metadata": ["name": "tarmac-low"], "globalDefault": true]) == ["globalDefault: true, want false"])
        let np = KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "default-deny", namespace: "a", body: ["spec": ["podSelector": [:], "policyTypes": ["Egress"]]])
        #expect(Drift.differences(desired: np, live: ["metadata": [:], "spec": ["policyTypes": ["Egress"]]]).isEmpty, "an empty selector reads back as missing")
    }

    @Test func listsAreComparedItemByItem() {
        let np = KubeObject("networking.k8s.io/v1", "NetworkPolicy", name: "default-deny", namespace: "a", body: ["spec": ["podSelector": [:], "policyTypes": ["Ingress", "Egress"]]])
        let same: [String: Any] = ["metadata": [:], "spec": ["podSelector": [String: Any](), "policyTypes": ["Ingress", "Egress"]]]
        let fewer: [String: Any] = ["metadata": [:], "spec": ["podSelector": [String: Any](), "policyTypes": ["Ingress"]]]
        #expect(Drift.differences(desired: np, live: same).isEmpty)
        #expect(Drift.differences(desired: np, live: fewer) == ["spec.policyTypes: 1 item, want 2"])
    }
}
