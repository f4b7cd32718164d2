import Foundation
import Testing
import TarmacManifests
import TarmacModel
import TarmacTesting

/// The rendered admission policies, evaluated as the API server evaluates them (CEL through cel-python,
/// Tests/Support/vap_eval.py): Tarmac's own objects pass; raw kubectl bypasses are denied.
@Suite struct AdmissionPolicyTests {
    static let tarmac = "system:serviceaccount:tarmac-system:tarmac"
    static let jobController = "system:serviceaccount:kube-system:job-controller"

    struct Case {
        var name: String
        var object: KValue
        var user: String
        var namespace: String
    }

    func evaluate(_ cases: [Case]) throws -> [String: [String]] {
        let objects = RenderSupport.render()
        var nsLabels: [String: [String: String]] = [:]
        for ns in objects where ns.kind == "Namespace" { nsLabels[ns.name] = ns.labels }
        let input: KValue = [
            "objects": .list(objects.filter { $0.kind.hasPrefix("ValidatingAdmissionPolicy") }.map(\.value)),
            "cases": .list(cases.map { c in
                ["name": .string(c.name), "object": c.object, "user": .string(c.user),
                 "namespaceLabels": .stringMap(nsLabels[c.namespace] ?? [:])]
            }),
        ]
        let dir = try TemporaryDirectory()
        let inputFile = try dir.write("input.json", String(decoding: try JSONEncoder().encode(input), as: UTF8.self))
        let python = try #require(Run.which("python3"))
        let r = try Run.program("/bin/sh", ["-c", "\(python) \(Fixtures.path("Tests/Support/vap_eval.py")) < \(inputFile)"])
        try #require(r.status == 0, "vap_eval.py failed (pip install cel-python; .ci/run does): \(r.stderr)")
        return try JSONDecoder().decode([String: [String]].self, from: Data(r.stdout.utf8))
    }

    func rendered(_ kind: String, _ name: String) throws -> KValue {
        try #require(RenderSupport.render().first { $0.kind == kind && $0.name == name }).value
    }

    /// A pod as the job controller creates it from a Job's template.
    func pod(from job: KValue, namespace: String) -> KValue {
        var pod: KValue = ["apiVersion": "v1", "kind": "Pod", "spec": job["spec"]?["template"]?["spec"] ?? [:]]
        var meta = job["spec"]?["template"]?["metadata"] ?? [:]
        meta["name"] = "p-0"
        meta["namespace"] = .string(namespace)
        pod["metadata"] = meta
        return pod
    }

    @Test func policiesAllowTarmacAndDenyBypasses() throws {
        let job = try rendered("Job", "ranker-ft")  // search-dev, 8 H100 per worker
        var byHand = job
        byHand["metadata"]?["labels"] = [:]
        var rawPod = pod(from: job, namespace: "search-dev")
        rawPod["metadata"]?["labels"] = [:]
        var quayJob = try rendered("Deployment", "ranker")  // search-prod
        let quayContainers: [KValue] = (quayJob["spec"]?["template"]?["spec"]?["containers"]?.list ?? []).map { c in
            var c = c
            c["image"] = "quay.io/acme/serve:7"
            return c
        }
        quayJob["spec"]?["template"]?["spec"]?["containers"] = .list(quayContainers)
        var uneven = job
        var container = job["spec"]?["template"]?["spec"]?["containers"]?.list?.first ?? [:]
        container["resources"]?["requests"]?["nvidia.com/gpu"] = "4"
        uneven["spec"]?["template"]?["spec"]?["containers"] = [container]
        var memory = job
        var c2 = job["spec"]?["template"]?["spec"]?["containers"]?.list?.first ?? [:]
        c2["resources"]?["limits"]?["memory"] = "1000Gi"
        memory["spec"]?["template"]?["spec"]?["containers"] = [c2]
        let cpuDeployment = try rendered("Deployment", "echo")  // platform-dev, CPU only, docker.io/library image
        var privileged = cpuDeployment
        var c3 = cpuDeployment["spec"]?["template"]?["spec"]?["containers"]?.list?.first ?? [:]
        c3["securityContext"]?["privileged"] = true
        privileged["spec"]?["template"]?["spec"]?["containers"] = [c3]
        var hostPath = cpuDeployment
        hostPath["spec"]?["template"]?["spec"]?["volumes"] = [["name": "root", "hostPath": ["path": "/"]]]
        var hostNet = pod(from: cpuDeployment, namespace: "platform-dev")
        hostNet["spec"]?["hostNetwork"] = true

        let results = try evaluate([
            Case(name: "tarmac creates its job", object: job, user: Self.tarmac, namespace: "search-dev"),
            Case(name: "job controller creates the pod", object: pod(from: job, namespace: "search-dev"), user: Self.jobController, namespace: "search-dev"),
            Case(name: "a person creates a GPU job", object: byHand, user: "alice@acme.example", namespace: "search-dev"),
            Case(name: "a person creates a GPU pod", object: rawPod, user: "alice@acme.example", namespace: "search-dev"),
            Case(name: "image from a registry prod does not allow", object: quayJob, user: Self.tarmac, namespace: "search-prod"),
            Case(name: "tarmac's prod deployment", object: try rendered("Deployment", "ranker"), user: Self.tarmac, namespace: "search-prod"),
            Case(name: "GPU request differs from limit", object: uneven, user: Self.tarmac, namespace: "search-dev"),
            Case(name: "GPU memory limit differs from request", object: memory, user: Self.tarmac, namespace: "search-dev"),
            Case(name: "a person creates a CPU deployment", object: cpuDeployment, user: "ops@acme.example", namespace: "platform-dev"),
            Case(name: "privileged container", object: privileged, user: "ops@acme.example", namespace: "platform-dev"),
            Case(name: "hostPath volume", object: hostPath, user: Self.tarmac, namespace: "platform-dev"),
            Case(name: "host network pod", object: hostNet, user: "ops@acme.example", namespace: "platform-dev"),
            Case(name: "outside Tarmac's namespaces", object: rawPod, user: "alice@acme.example", namespace: "default"),
        ])
        #expect(results["tarmac creates its job"] == [])
        #expect(results["job controller creates the pod"] == [])
        #expect(results["tarmac's prod deployment"] == [])
        #expect(results["a person creates a CPU deployment"] == [])
        #expect(results["outside Tarmac's namespaces"] == [])
        #expect(results["a person creates a GPU job"] == ["denied by tarmac-gpu-via-tarmac: GPU workloads in Tarmac namespaces are submitted through Tarmac (tarmac submit), not created directly"])
        #expect(results["a person creates a GPU pod"]?.count == 2)
        #expect(results["image from a registry prod does not allow"] == ["denied by tarmac-registries-prod: images in environment prod must come from: registry.acme.example"])
        #expect(results["GPU request differs from limit"] == ["denied by tarmac-gpu-requests-equal-limits: GPU requests must equal GPU limits"])
        #expect(results["GPU memory limit differs from request"] == ["denied by tarmac-gpu-requests-equal-limits: GPU containers must set a memory limit equal to their memory request"])
        #expect(results["privileged container"] == ["denied by tarmac-no-host-access: privileged containers are not allowed"])
        #expect(results["hostPath volume"] == ["denied by tarmac-no-host-access: hostPath volumes are not allowed"])
        #expect(results["host network pod"] == ["denied by tarmac-no-host-access: host network, PID and IPC namespaces are not allowed"])
    }
}
