import Foundation
import Testing
import TarmacKubernetes

/// Against a real API server when TARMAC_TEST_KUBECONFIG names a kubeconfig (optionally TARMAC_TEST_CONTEXT): list
/// nodes, then create, server-side apply, read, list+watch and delete a namespace `tarmac-test-*`.
@Suite struct RealClusterTests {
    static let kubeconfig = ProcessInfo.processInfo.environment["TARMAC_TEST_KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0 }

    @Test(.enabled(if: kubeconfig != nil, "set TARMAC_TEST_KUBECONFIG to a kubeconfig to run the client against a real API server"))
    func clientAgainstARealAPIServer() async throws {
        let access = try KubeConfig.load(path: try #require(Self.kubeconfig), context: ProcessInfo.processInfo.environment["TARMAC_TEST_CONTEXT"])
        let c = try KubeClient(access)
        let nodes = try await c.list("/api/v1/nodes")
        #expect(!nodes.resourceVersion.isEmpty)
        let name = "tarmac-test-\(UInt32.random(in: 0...UInt32.max))"
        let ns: [String: Any] = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": name, "labels": ["tarmac.dev/test": "true"]]]
        _ = try await c.create("/api/v1/namespaces", ns)
        do {
            _ = try await c.create("/api/v1/namespaces", ns)
            Issue.record("a second create must conflict")
        } catch let e as KubeError {
            #expect(e.isConflict)
        }
        var labelled = ns
        labelled["metadata"] = ["name": name, "labels": ["tarmac.dev/test": "true", "tarmac.dev/applied": "yes"]]
        let applied = try await c.apply("/api/v1/namespaces/\(name)", labelled)
        #expect(((applied["metadata"] as? [String: Any])?["labels"] as? [String: String])?["tarmac.dev/applied"] == "yes")
        let managers = ((applied["metadata"] as? [String: Any])?["managedFields"] as? [[String: Any]])?.compactMap { $0["manager"] as? String } ?? []
        #expect(managers.contains("tarmac"))
        try await c.delete("/api/v1/namespaces/\(name)")
        try await c.delete("/api/v1/namespaces/\(name)")  // already going: not an error
    }
}
