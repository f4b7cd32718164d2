import Foundation
import Testing
import TarmacKubernetesBackend
import TarmacManifests
import TarmacTesting

/// The objects the backend creates and changes: held while queued, released and pinned on admission, every one accepted
/// by the upstream schemas (kubernetes-validate --strict), so what the cluster gets is what was rendered.
@Suite struct WorkloadObjectsTests {
    static let examples = ["ranker-ft.yaml", "embed-batch.yaml", "ranker-serve.yaml", "support-agent.yaml", "train-cpu.yaml", "echo-cpu.yaml"]

    @Test(arguments: examples)
    func queuedObjectsAreHeldAndLabelled(_ file: String) throws {
        let o = try BackendSupport.objects(file)
        let queued = o.queued
        #expect(queued.allSatisfy { $0.labels[Naming.workloadIDLabel] == "wl-test" }, "every object names its workload")
        // A service with a replica range keeps its HPA: what it asks beyond the admitted replicas waits for the engine.
        let hpa = queued.first { $0.kind == "HorizontalPodAutoscaler" }
        if case .inference(let i) = o.workload.details, i.replicas.max > i.replicas.min {
            #expect(hpa?.body["spec"]?["scaleTargetRef"]?["kind"] == "Deployment")
        } else {
            #expect(hpa == nil)
        }
        let c = try #require(queued.first { $0.kind == "Job" || $0.kind == "Deployment" })
        if c.kind == "Job" {
            #expect(c.body["spec"]?["suspend"] == .bool(true))
        } else {
            #expect(c.body["spec"]?["replicas"] == .int(0))
        }
        // Held objects are not pinned anywhere; their pods are created behind Tarmac's scheduling gate.
        let terms = c.body["spec"]?["template"]?["spec"]?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.list ?? []
        #expect(!terms.contains { $0["matchFields"] != nil })
        #expect(c.body["spec"]?["template"]?["spec"]?["schedulingGates"] == .list([["name": "tarmac.dev/placement"]]))
    }

    @Test func admissionReleasesAndPinsToTheChosenNodes() throws {
        let o = try BackendSupport.objects("ranker-ft.yaml")
        let held = o.controller(attempt: 0, nodes: nil)
        let run = o.controller(attempt: 3, nodes: ["gpu-b", "gpu-a", "gpu-b"])
        #expect(run.body["spec"]?["suspend"] == .bool(false))
        #expect(run.annotations[Naming.attemptLabel] == "3")
        let template = try #require(run.body["spec"]?["template"])
        #expect(template["metadata"]?["labels"]?[Naming.attemptLabel] == "3")
        #expect(template["metadata"]?["labels"]?[Naming.workloadIDLabel] == "wl-test")
        // The node of each slot is recorded on the controller; the template is the held one's, gated (pods are pinned one by one).
        #expect(run.annotations[PodPinning.placementAnnotation] == "gpu-b,gpu-a,gpu-b")
        #expect(template["spec"]?["schedulingGates"] == .list([["name": "tarmac.dev/placement"]]))
        #expect(template["spec"]?["affinity"]?["nodeAffinity"] == held.body["spec"]?["template"]?["spec"]?["affinity"]?["nodeAffinity"])
        // The pool's constraints and the gang's topology stay as rendered.
        #expect(template["spec"]?["nodeSelector"] == held.body["spec"]?["template"]?["spec"]?["nodeSelector"])
        #expect(template["spec"]?["affinity"]?["podAffinity"] == held.body["spec"]?["template"]?["spec"]?["affinity"]?["podAffinity"])
        #expect(template["spec"]?["tolerations"] == held.body["spec"]?["template"]?["spec"]?["tolerations"])

        let serve = try BackendSupport.objects("ranker-serve.yaml")
        let dep = serve.controller(attempt: 1, nodes: Array(repeating: "l4-0", count: serve.podCount))
        #expect(dep.body["spec"]?["replicas"] == .int(serve.workload.podCount))
        #expect(serve.podCount >= 1)
    }

    @Test func batchSlotsFollowParallelism() throws {
        let o = try BackendSupport.objects("embed-batch.yaml")
        #expect(o.podCount == 20)
        #expect(o.slot(ofIndex: 0) == 0)
        #expect(o.slot(ofIndex: 45) == 5)
        #expect(o.slot(ofIndex: 199) == 19)
    }

    @Test func everyHeldAndRunningObjectPassesStrictValidation() throws {
        let validator = try #require(Run.which("kubernetes-validate"), "kubernetes-validate is not installed: pip install kubernetes-validate (.ci/run does this)")
        let dir = try TemporaryDirectory(prefix: "tarmac-kv-backend")
        var files: [String] = []
        for (i, file) in Self.examples.enumerated() {
            let o = try BackendSupport.objects(file)
            for obj in o.queued { files.append(try dir.write("held-\(i)/" + obj.relativePath, obj.yaml)) }
            let run = o.controller(attempt: 2, nodes: ["node-a", "node-b"])
            files.append(try dir.write("run-\(i)/" + run.relativePath, run.yaml))
        }
        let r = try Run.program(validator, ["--strict", "-k", "1.37.0"] + files)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!(r.stdout + r.stderr).contains("Couldn't find schema"))
        #expect((r.stdout + r.stderr).components(separatedBy: "INFO").count - 1 == files.count, "each object reported as validated")
    }
}
