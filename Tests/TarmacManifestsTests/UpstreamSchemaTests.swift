import Foundation
import Testing
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
        let objects = RenderSupport.render(kueue: true).filter { !$0.apiVersion.hasPrefix("kueue.x-k8s.io/") }
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
