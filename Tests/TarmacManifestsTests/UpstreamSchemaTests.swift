import Foundation
import Testing
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel
import TarmacTesting

/// Every manifest rendered from the examples passes `kubernetes-validate --strict` against the upstream
/// schemas of a current Kubernetes release. (.ci/run installs kubernetes-validate from PyPI.)
@Suite(.serialized) struct UpstreamSchemaTests {
    static let kubernetesVersion = "1.37.0"

    func validator() throws -> String {
        try #require(Run.which("kubernetes-validate"), "kubernetes-validate is not installed: pip install kubernetes-validate (.ci/run does this)")
    }

    func validate(_ objects: [KubeObject]) throws -> ProcessResult {
        let dir = try TemporaryDirectory(prefix: "tarmac-kv")
        var files: [String] = []
        for o in objects { files.append(try dir.write(o.relativePath, o.yaml)) }
        return try Run.program(try validator(), ["--strict", "-k", Self.kubernetesVersion, "--no-warn"] + files)
    }

    @Test func everyRenderedCoreObjectPassesStrictValidation() throws {
        // Kueue's and Gateway API's kinds are CRDs, outside the core schemas (HTTPRoutes are checked by a real API server
        // with Gateway API's CRDs: RealClusterRolloutTests).
        let objects = RenderSupport.render(kueue: true).filter { !$0.apiVersion.hasPrefix("kueue.x-k8s.io/") && !$0.apiVersion.hasPrefix("gateway.networking.k8s.io/") }
        let kinds = Set(objects.map(\.kind))
        #expect(kinds.isSuperset(of: ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "PriorityClass", "ValidatingAdmissionPolicy",
                                      "ValidatingAdmissionPolicyBinding", "Job", "Service", "ServiceAccount", "Deployment",
                                      "HorizontalPodAutoscaler", "PersistentVolumeClaim"]))
        let result = try validate(objects)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("ERROR"), "\(result.stdout)")
        // A missing schema would make strict validation vacuous: every core kind must have been checked.
        let verbose = try validateVerbose(objects)
        #expect(!verbose.contains("Couldn't find schema"), "\(verbose)")
        #expect(verbose.components(separatedBy: "INFO").count - 1 == objects.count, "each object reported as validated")
    }

    /// With the tool gateway in the contract (examples/agent): the control plane may create TokenReviews and read the
    /// one Secret of gateway credentials, by name; the system namespace is the one agents may reach tools through; and
    /// an agent's egress goes there, not to the tool. A controller that is a user, not a service account, is bound as one.
    @Test func theGatewayPlatformRendersControllerAccessAndValidates() throws {
        let loaded = ContractLoader.load(Fixtures.path("examples/agent/platform.yaml"))
        let contract = try #require(loaded.contract, "\(loaded.diagnostics)")
        let agents = DocumentReader.read(file: Fixtures.path("examples/agent/support-agent.yaml")).workloads
        let out = Rendering.render(contract: contract, workloads: agents, options: RenderOptions(controllerUser: "tarmac-controller"))
        #expect(out.diagnostics.isEmpty, "\(out.diagnostics)")
        let objects = out.objects
        let role = try #require(objects.first { $0.kind == "Role" && $0.name == "tarmac-gateway-credentials" })
        #expect(role.namespace == Naming.systemNamespace)
        #expect(role.body["rules"] == [["apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tarmac-gateway"], "verbs": ["get"]]])
        let cluster = try #require(objects.first { $0.kind == "ClusterRole" && $0.name == "tarmac-identity" })
        #expect(cluster.body["rules"] == [["apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]]])
        for binding in objects.filter({ $0.kind.hasSuffix("RoleBinding") }) {
            #expect(binding.body["subjects"] == [["kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "tarmac-controller"]], "\(binding.name)")
        }
        #expect(Set(objects.filter { $0.kind.hasSuffix("RoleBinding") }.map(\.name)) == ["tarmac-identity", "tarmac-telemetry", "tarmac-gateway-credentials"])
        let telemetry = try #require(objects.first { $0.kind == "ClusterRole" && $0.name == "tarmac-telemetry" })
        #expect(telemetry.body["rules"] == [["apiGroups": [""], "resources": ["pods"], "verbs": ["list"]], ["apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]]],
                "dcgm-exporter's pages through the pod proxy, nothing more")
        let system = try #require(objects.first { $0.kind == "Namespace" && $0.name == Naming.systemNamespace })
        #expect(system.labels[Naming.gatewayNamespaceLabel] == "true")
        let egress = try #require(objects.first { $0.kind == "NetworkPolicy" && $0.name.hasSuffix("-tools") })
        #expect(egress.body["spec"]?["egress"] == [["to": [["namespaceSelector": ["matchLabels": ["tarmac.dev/gateway": "true"]]]]]])
        let result = try validate(objects)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // Without a tool behind the gateway, no Secret is readable and no namespace is marked.
        let plain = RenderSupport.render()
        #expect(!plain.contains { $0.kind == "Role" })
        #expect(plain.first { $0.name == Naming.systemNamespace }?.labels[Naming.gatewayNamespaceLabel] == nil)
    }

    func validateVerbose(_ objects: [KubeObject]) throws -> String {
        let dir = try TemporaryDirectory(prefix: "tarmac-kv")
        var files: [String] = []
        for o in objects { files.append(try dir.write(o.relativePath, o.yaml)) }
        let r = try Run.program(try validator(), ["--strict", "-k", Self.kubernetesVersion] + files)
        return r.stdout + r.stderr
    }

    /// The check is not vacuous: a stray field or a wrong type is rejected.
    @Test func strictValidationRejectsBrokenObjects() throws {
        var job = try #require(RenderSupport.render().first { $0.kind == "Job" })
        job.body["spec"]?["bogusField"] = 1
        #expect(try validate([job]).status != 0)
        var np = try #require(RenderSupport.render().first { $0.kind == "NetworkPolicy" })
        np.body["spec"]?["policyTypes"] = "Ingress"
        #expect(try validate([np]).status != 0)
    }
}
