import Foundation
import Logging
import Testing
import TarmacKubernetes
import TarmacTesting

extension RealCluster {
/// `tarmac install --apply` on the test control plane: the API server accepts every object as rendered, Pod Security
/// `restricted` (enforced in tarmac-system) admits the pods the Deployment's ReplicaSet creates, and the scheduler puts
/// the replicas on different nodes. The rig runs no containers (its node agent plays the kubelet), so this proves
/// neither that the image starts nor that the probes pass.
@Suite struct InstallRigTests {
    @Test(.enabled(if: KubeRig.isRig, KubeRig.rigMessage))
    func theRenderedInstallIsAcceptedAndItsReplicasLandOnTwoNodes() async throws {
        let kubeconfig = try #require(KubeRig.kubeconfig)
        let applied = try Run.program(Fixtures.tarmacBinary, ["install", "--platform", Fixtures.path("Tests/Fixtures/kubernetes/rig-platform.yaml"),
                                                             "--image", "registry.example.com/tarmac:test", "--gateway-port", "8081", "--bundled-postgres",
                                                             "--apply", "--kubeconfig", kubeconfig])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect(applied.stdout.components(separatedBy: " applied").count - 1 >= 15, "\(applied.stdout)")
        #expect(applied.stderr.contains("Secret tarmac-system/tarmac-store (key password) is missing"), "\(applied.stderr)")
        let client = try KubeClient(try KubeConfig.load(path: kubeconfig, context: nil), logger: Logger(label: "test"))
        do {
            try await check(client)
        } catch {
            await remove(client)
            throw error
        }
        // The rig is shared by the suite: the controller's grants must not outlive this test (the identity is the one
        // RealClusterControllerAccessTests checks the narrow rights of).
        await remove(client)
    }

    func remove(_ client: KubeClient) async {
        for path in ["/apis/apps/v1/namespaces/tarmac-system/deployments/tarmac", "/apis/policy/v1/namespaces/tarmac-system/poddisruptionbudgets/tarmac",
                     "/api/v1/namespaces/tarmac-system/services/tarmac", "/api/v1/namespaces/tarmac-system/configmaps/tarmac-platform",
                     "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tarmac-controller", "/apis/rbac.authorization.k8s.io/v1/clusterroles/tarmac-controller",
                     "/apis/rbac.authorization.k8s.io/v1/namespaces/tarmac-system/rolebindings/tarmac-leader-election",
                     "/apis/rbac.authorization.k8s.io/v1/namespaces/tarmac-system/roles/tarmac-leader-election",
                     "/apis/apps/v1/namespaces/tarmac-system/statefulsets/tarmac-postgres", "/api/v1/namespaces/tarmac-system/services/tarmac-postgres",
                     "/apis/networking.k8s.io/v1/namespaces/tarmac-system/networkpolicies/tarmac-postgres",
                     "/api/v1/namespaces/tarmac-system/persistentvolumeclaims/data-tarmac-postgres-0"] {
            try? await client.delete(path)
        }
    }

    func check(_ client: KubeClient) async throws {
        var nodes: Set<String> = []
        try await eventually("the Deployment's two pods are created and scheduled", timeout: .seconds(60), every: .milliseconds(250)) {
            let pods = try await client.list("/api/v1/namespaces/tarmac-system/pods?labelSelector=app.kubernetes.io%2Fname%3Dtarmac").items
            nodes = Set(pods.compactMap { ($0["spec"] as? [String: Any])?["nodeName"] as? String })
            return pods.count == 2 && nodes.count == 2
        }
        #expect(nodes.count == 2, "one replica per node: \(nodes)")
        let pdb = try await client.get("/apis/policy/v1/namespaces/tarmac-system/poddisruptionbudgets/tarmac")
        #expect((pdb["spec"] as? [String: Any])?["minAvailable"] as? Int == 1)
        let service = try await client.get("/api/v1/namespaces/tarmac-system/services/tarmac")
        let ports = ((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]] ?? []).compactMap { $0["port"] as? Int }
        #expect(ports.sorted() == [8080, 8081])
        // The bundled PostgreSQL: the StatefulSet controller makes its claim and its pod, which Pod Security
        // `restricted` (enforced in tarmac-system) admits; it stays Pending here (the rig has no volumes to bind).
        try await eventually("the bundled PostgreSQL's pod is created", timeout: .seconds(60), every: .milliseconds(250)) {
            try await client.list("/api/v1/namespaces/tarmac-system/pods?labelSelector=app.kubernetes.io%2Fname%3Dtarmac-postgres").items.count == 1
        }
        let claim = try await client.get("/api/v1/namespaces/tarmac-system/persistentvolumeclaims/data-tarmac-postgres-0")
        #expect(((claim["spec"] as? [String: Any])?["resources"] as? [String: Any]).flatMap { ($0["requests"] as? [String: Any])?["storage"] as? String } == "10Gi")
        let role = try await client.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/tarmac-controller")
        #expect(((role["rules"] as? [[String: Any]]) ?? []).count >= 10)
    }
}
}
