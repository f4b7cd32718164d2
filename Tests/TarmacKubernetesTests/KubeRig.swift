import Foundation
import Testing
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The real control plane the tests run against: TARMAC_TEST_KUBECONFIG (any cluster), or the test control plane
/// (Tests/Support/kube-rig) started once for this test process from the binaries in TARMAC_K8S_BIN and stopped when
/// it exits. Without either, the real-cluster tests skip with a message.
enum KubeRig {
    static let environment = ProcessInfo.processInfo.environment
    static let bin = environment["TARMAC_K8S_BIN"].flatMap { $0.isEmpty ? nil : $0 }
    static let state = NSTemporaryDirectory() + "tarmac-kube-rig-\(getpid())"

    /// The rig's admin kubeconfig, or why it did not start (nil, nil: no TARMAC_K8S_BIN).
    static let started: (kubeconfig: String?, failure: String?) = {
        guard let bin, environment["TARMAC_TEST_KUBECONFIG"].map({ $0.isEmpty }) ?? true else { return (nil, nil) }
        // Run through system(3), its output to a file: the servers it leaves running would hold a pipe open forever,
        // and this runs while tests are being discovered.
        let out = state + ".out"
        let q: (String) -> String = { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = "TARMAC_K8S_BIN=\(q(bin)) /bin/bash \(q(Fixtures.path("Tests/Support/kube-rig"))) start \(q(state)) > \(q(out)) 2>&1 < /dev/null"
        let status = system(command)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status == 0, let last = text.split(separator: "\n").last.map(String.init), FileManager.default.fileExists(atPath: last) else {
            return (nil, "Tests/Support/kube-rig start failed (status \(status)):\n\(text)")
        }
        atexit {
            _ = system("/bin/bash '\(Fixtures.path("Tests/Support/kube-rig"))' stop '\(KubeRig.state)' > /dev/null 2>&1; rm -rf '\(KubeRig.state)' '\(KubeRig.state).out'")
        }
        return (last, nil)
    }()

    /// A kubeconfig for a real cluster, if there is one.
    static var kubeconfig: String? { environment["TARMAC_TEST_KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? started.kubeconfig }
    /// Whether the cluster is the test control plane (its node agent, its nodes, its person `alice`).
    static var isRig: Bool { started.kubeconfig != nil }
    static let skipMessage: Comment = "set TARMAC_K8S_BIN to a folder with kube-apiserver, kube-controller-manager, kube-scheduler and etcd (README: Testing on a real control plane), or TARMAC_TEST_KUBECONFIG to a cluster"
    static let rigMessage: Comment = "set TARMAC_K8S_BIN to a folder with kube-apiserver, kube-controller-manager, kube-scheduler and etcd (README: Testing on a real control plane): these tests need the test control plane's node agent"
}
