import TarmacCore
import TarmacDelivery
import Crypto
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
            // With a working directory and a model Tarmac keeps: both init containers, the Secret with their URLs.
            let full = o.controller(attempt: 2, nodes: ["node-a", "node-b"], checkpoint: true, workdir: true, model: Self.model)
            files.append(try dir.write("full-\(i)/" + full.relativePath, full.yaml))
            let secret = o.checkpointSecret(url: "https://t/v1/workloads/x/checkpoint", token: "t", workdirURL: "https://t/w", modelURL: "https://t/v1/workloads/x/model")
            files.append(try dir.write("full-\(i)/" + secret.relativePath, secret.yaml))
        }
        let r = try Run.program(validator, ["--strict", "-k", "1.37.0"] + files)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!(r.stdout + r.stderr).contains("Couldn't find schema"))
        #expect((r.stdout + r.stderr).components(separatedBy: "INFO").count - 1 == files.count, "each object reported as validated")
    }

    static let model = ModelMount(reference: "ranker@1.0.0", team: "search", manifestDigest: "sha256:" + String(repeating: "0", count: 64), files: [
        .init(path: "config.json", sha256: String(repeating: "a", count: 64), size: 120),
        .init(path: "weights/part 0.bin", sha256: String(repeating: "b", count: 64), size: 3 << 20),
    ])

    /// A model Tarmac keeps is fetched by an init container with the attempt's credential into a volume the server
    /// reads at MODEL_DIR, read-only; the volume is sized for the files.
    @Test func aKeptModelIsFetchedAndCheckedBeforeTheServerStarts() throws {
        let o = try BackendSupport.objects("ranker-serve.yaml")
        let c = o.controller(attempt: 1, nodes: ["n"], checkpoint: true, model: Self.model)
        let pod = try #require(c.body["spec"]?["template"]?["spec"])
        let inits = pod["initContainers"]?.list ?? []
        let fetch = try #require(inits.first { $0["name"] == "tarmac-model" })
        let script = fetch["command"]?.list?.last?.string ?? ""
        #expect(script.contains("fetch 'config.json' '\(String(repeating: "a", count: 64))'") && script.contains("fetch 'weights/part 0.bin' "), "\(script)")
        #expect(fetch["env"] == [["name": "TARMAC_MODEL_URL", "valueFrom": ["secretKeyRef": ["name": .string(o.checkpointSecretName), "key": "model"]]],
                                 ["name": "TARMAC_MODEL_TOKEN", "valueFrom": ["secretKeyRef": ["name": .string(o.checkpointSecretName), "key": "token"]]]])
        let server = try #require(pod["containers"]?.list?.first)
        #expect(server["volumeMounts"]?.list?.contains(["name": "tarmac-model", "mountPath": "/models", "readOnly": true]) == true)
        #expect(server["env"]?.list?.contains(["name": "MODEL_DIR", "value": "/models"]) == true)
        #expect(pod["volumes"]?.list?.contains(["name": "tarmac-model", "emptyDir": ["sizeLimit": "4Mi"]]) == true, "\(pod["volumes"] ?? [])")
        // Without the attempt's credential there is nothing to fetch with: no init container.
        let held = o.controller(attempt: 1, nodes: nil, model: Self.model)
        #expect(held.body["spec"]?["template"]?["spec"]?["initContainers"]?.list?.contains { $0["name"] == "tarmac-model" } != true)
    }

    /// The init container's script, run for real (sh, wget, sha256sum) against files served over HTTP: the registered
    /// bytes pass and land where the server reads them; one changed byte stops it with exit 3 naming the file.
    @Test func theFetchScriptChecksEveryDigest() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-model-fetch")
        let weights = String(repeating: "w", count: 5000)
        try dir.write("served/config.json", "{}")
        try dir.write("served/weights/part 0.bin", weights)
        let sha = { (s: String) in SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }
        let files: [ModelManifest.File] = [.init(path: "config.json", sha256: sha("{}"), size: 2), .init(path: "weights/part 0.bin", sha256: sha(weights), size: 5000)]
        let python = Run.which("python3") ?? "/usr/bin/python3"
        let port = try TestPorts.free()
        let http = Process()
        http.executableURL = URL(fileURLWithPath: python)
        http.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dir.path + "/served"]
        http.standardOutput = FileHandle.nullDevice
        http.standardError = FileHandle.nullDevice
        try http.run()
        defer { kill(http.processIdentifier, SIGKILL); http.waitUntilExit() }
        try await eventually("the file server listens") { (try? Run.program("/bin/sh", ["-c", "wget -q -O /dev/null http://127.0.0.1:\(port)/config.json"]).status) == 0 }
        func run(into target: String) throws -> ProcessResult {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            let script = WorkloadObjects.modelFetchScript(files).replacingOccurrences(of: "cd \(WorkloadObjects.modelDir)", with: "cd '\(target)'")
            return try Run.program("/usr/bin/env", ["TARMAC_MODEL_URL=http://127.0.0.1:\(port)", "TARMAC_MODEL_TOKEN=t", "/bin/sh", "-c", script])
        }
        let good = try run(into: dir.path + "/models-1")
        #expect(good.status == 0 && good.stdout.contains("2 model files fetched and checked"), "\(good.stdout)\(good.stderr)")
        #expect(try String(contentsOfFile: dir.path + "/models-1/weights/part 0.bin", encoding: .utf8) == weights)
        try dir.write("served/weights/part 0.bin", weights.replacingOccurrences(of: "wwww", with: "wwwx", options: [], range: weights.startIndex..<weights.index(weights.startIndex, offsetBy: 4)))
        let bad = try run(into: dir.path + "/models-2")
        #expect(bad.status == 3 && bad.stderr.contains("ModelTampered: weights/part 0.bin is not the registered bytes"), "\(bad.status) \(bad.stderr)")
    }
}
