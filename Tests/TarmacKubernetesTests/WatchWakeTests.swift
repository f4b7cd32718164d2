import Testing
@testable import TarmacKubernetesBackend

/// Which watched changes wake the control plane's loop before its tick (the real-cluster test
/// `watchedChangesWakeTheControlPlane` runs a job with an hour-long tick on them).
@Suite struct WatchWakeTests {
    static func pod(_ phase: String?, ready: Bool = false) -> [String: Any] {
        var status: [String: Any] = ["conditions": [["type": "Ready", "status": ready ? "True" : "False"]]]
        if let phase { status["phase"] = phase }
        return ["metadata": ["name": "p", "namespace": "n"], "status": status]
    }

    @Test func podsWakeTheLoopWhenTheyAppearOrChangePhase() {
        #expect(KubernetesBackend.wakes("pods", Self.pod("Pending"), before: nil))
        #expect(KubernetesBackend.wakes("pods", Self.pod("Running"), before: Self.pod("Pending")))
        #expect(KubernetesBackend.wakes("pods", Self.pod("Succeeded"), before: Self.pod("Running")))
        #expect(KubernetesBackend.wakes("pods", Self.pod("Running"), before: nil), "first sight of a pod")
        // A condition or container status changing within a phase waits for the tick.
        #expect(!KubernetesBackend.wakes("pods", Self.pod("Running", ready: true), before: Self.pod("Running")))
    }

    @Test func controllersWakeTheLoopAndNodesDoNot() {
        #expect(KubernetesBackend.wakes("jobs", [:], before: nil))
        #expect(KubernetesBackend.wakes("deployments", [:], before: nil))
        #expect(!KubernetesBackend.wakes("nodes", [:], before: nil))
        #expect(KubernetesBackend.wakes("pods", nil, before: nil), "a pod that goes")
    }
}
