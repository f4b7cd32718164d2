import TarmacCore
import Foundation
import Testing
import TarmacContract
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting

/// Against a real API server when TARMAC_TEST_KUBECONFIG names a kubeconfig (optionally TARMAC_TEST_CONTEXT): list
/// nodes, then create, server-side apply, read, list+watch and delete a namespace `tarmac-test-*`.
extension RealCluster {
@Suite struct RealClusterTests {
    static var kubeconfig: String? { KubeRig.kubeconfig }

    @Test(.enabled(if: kubeconfig != nil, KubeRig.skipMessage))
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
}

extension RealCluster {
/// The backend against a real cluster when TARMAC_TEST_KUBECONFIG is set (TARMAC_TEST_IMAGE overrides the image,
/// docker.io/library/busybox:1.36): the platform of Tests/Fixtures/kubernetes is applied (namespace tarmac-e2e-test
/// under Pod Security `restricted`, quota, limit range, network policies, priority class, admission policies); a
/// batch job is held, admitted, bound by the real scheduler to the node Tarmac chose, runs, and its status and log
/// flow back; then its objects are deleted. (On the test control plane no container runs: the node agent reports the
/// pod's TEST_LOG as its log.)
@Suite struct RealClusterBackendTests {
    static var contract: Contract { ContractLoader.load(Fixtures.path("Tests/Fixtures/kubernetes/platform.yaml")).contract! }

    /// A client of the real cluster and a started backend on the test platform.
    static func backend(_ dir: TemporaryDirectory) async throws -> (KubeClient, KubernetesBackend) {
        if let failure = KubeRig.started.failure { Issue.record(Comment(rawValue: failure)) }
        let access = try KubeConfig.load(path: try #require(RealClusterTests.kubeconfig), context: ProcessInfo.processInfo.environment["TARMAC_TEST_CONTEXT"])
        let client = try KubeClient(access)
        let backend = KubernetesBackend(client: client, contract: contract, options: KubernetesBackendOptions(logDirectory: dir.path + "/logs"))
        try await backend.start()
        return (client, backend)
    }

    @Test(.enabled(if: RealClusterTests.kubeconfig != nil, KubeRig.skipMessage))
    func aBatchJobRunsOnTheNodeTarmacChose() async throws {
        let env = ProcessInfo.processInfo.environment
        let dir = try TemporaryDirectory(prefix: "tarmac-real-cluster")
        let (client, backend) = try await Self.backend(dir)
        let applied = await backend.platformOutcomes
        #expect(!applied.contains { $0.action == .failed }, "\(applied.filter { $0.action == .failed })")
        let nodes = try await backend.nodes()
        try #require(!nodes.isEmpty, "the cluster has no Ready, uncordoned node")

        let cp = ControlPlane(contract: Self.contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: backend)
        try await cp.start()
        let loop = Task { await cp.run() }
        defer { loop.cancel() }
        let name = "hello-\(UInt16.random(in: 0...UInt16.max))"
        let image = env["TARMAC_TEST_IMAGE"] ?? "docker.io/library/busybox:1.36"
        let doc = """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: \(name), team: tarmac-e2e, env: test}
        spec:
          size: tiny
          tasks: 1
          parallelism: 1
          image: \(image)
          command: [sh, -c, "echo hello from tarmac; sleep 3"]
          env: {TEST_LOG: "hello from tarmac"}
        """
        let admin = Principal(tokenID: "t", name: "e2e", role: .admin, team: nil)
        let id = try await cp.submit(text: doc, requestID: nil, by: admin, runsImages: true).workload.id
        var chosen: String?
        var boundTo: String?
        let end = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < end {
            let e = await cp.current(id)
            if let node = e?.placements.first?.node { chosen = node }
            if boundTo == nil, let pods = try? await client.list("/api/v1/namespaces/tarmac-e2e-test/pods?labelSelector=tarmac.dev/workload-id%3D\(id)").items,
               let node = (pods.first?["spec"] as? [String: Any])?["nodeName"] as? String {
                boundTo = node
            }
            if e?.state.isTerminal == true { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let e = try #require(await cp.current(id))
        #expect(e.state == .succeeded, "state \(e.state.rawValue): \(e.cause ?? "") \(e.message ?? "")")
        #expect(chosen != nil && boundTo == chosen, "Tarmac chose \(chosen ?? "nothing"); the scheduler bound the pod to \(boundTo ?? "nothing")")
        let log = try await cp.readLog(workload: id, attempt: 1, pod: 0, from: 0, max: 1 << 16)
        #expect(String(decoding: log.data, as: UTF8.self).contains("hello from tarmac"))
        do {
            _ = try await client.get("/apis/batch/v1/namespaces/tarmac-e2e-test/jobs/\(name)")
            // Deleted with propagation: it may still be going.
        } catch let k as KubeError {
            #expect(k.isNotFound)
        }
        await backend.shutdown()
    }

    /// A pod proves who it is with its projected service-account token: the cluster reviews it (TokenReview) and the
    /// backend matches the pod it is bound to with the workload's current attempt. A token for another audience, or
    /// bound to no pod, proves nothing.
    @Test(.enabled(if: RealClusterTests.kubeconfig != nil, KubeRig.skipMessage))
    func aPodAttestsWithItsServiceAccountToken() async throws {
        let env = ProcessInfo.processInfo.environment
        let dir = try TemporaryDirectory(prefix: "tarmac-real-cluster")
        let (client, backend) = try await Self.backend(dir)
        let cp = ControlPlane(contract: Self.contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: backend)
        try await cp.start()
        let loop = Task { await cp.run() }
        defer { loop.cancel() }
        let name = "attest-\(UInt16.random(in: 0...UInt16.max))"
        let doc = """
        apiVersion: tarmac.dev/v1alpha1
        kind: BatchJob
        metadata: {name: \(name), team: tarmac-e2e, env: test}
        spec:
          size: tiny
          tasks: 1
          parallelism: 1
          image: \(env["TARMAC_TEST_IMAGE"] ?? "docker.io/library/busybox:1.36")
          command: [sh, -c, "sleep 120"]
        """
        let admin = Principal(tokenID: "t", name: "e2e", role: .admin, team: nil)
        let id = try await cp.submit(text: doc, requestID: nil, by: admin, runsImages: true).workload.id
        var pod: [String: Any]?
        let end = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < end, pod == nil {
            if let pods = try? await client.list("/api/v1/namespaces/tarmac-e2e-test/pods?labelSelector=tarmac.dev/workload-id%3D\(id)").items,
               let p = pods.first, (p["spec"] as? [String: Any])?["nodeName"] != nil {
                pod = p
            } else {
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        let p = try #require(pod, "no pod of \(id) was bound")
        let meta = p["metadata"] as! [String: Any]
        let podName = meta["name"] as! String
        let spec = p["spec"] as! [String: Any]
        // The pod carries its identity token, for audience tarmac, and no Kubernetes API token.
        let volumes = spec["volumes"] as? [[String: Any]] ?? []
        #expect(volumes.contains { ($0["name"] as? String) == "tarmac-identity" })
        #expect(spec["automountServiceAccountToken"] as? Bool == false)
        func token(audience: String, bound: Bool) async throws -> String {
            var s: [String: Any] = ["audiences": [audience], "expirationSeconds": 600]
            if bound { s["boundObjectRef"] = ["kind": "Pod", "apiVersion": "v1", "name": podName, "uid": meta["uid"] as! String] }
            let r = try await client.create("/api/v1/namespaces/tarmac-e2e-test/serviceaccounts/\(name)/token",
                                            ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": s])
            return try #require((r["status"] as? [String: Any])?["token"] as? String)
        }
        let good = try await token(audience: "tarmac", bound: true)
        #expect(await backend.attest(serviceAccountToken: good) == PodAttestation(workload: id, attempt: 1, pod: podName))
        let attested = await cp.attest(serviceAccountToken: good)
        #expect(attested?.entry.id == id && attested?.pod == podName)
        #expect(await backend.attest(serviceAccountToken: try await token(audience: "someone-else", bound: true)) == nil)
        #expect(await backend.attest(serviceAccountToken: try await token(audience: "tarmac", bound: false)) == nil)
        #expect(await backend.attest(serviceAccountToken: String(good.dropLast(4)) + "AAAA") == nil)
        // Once the workload ends, its pod's token proves nothing to the control plane.
        _ = try await cp.cancel(id, by: admin)
        let stop = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < stop, await cp.current(id)?.state.isTerminal != true { try await Task.sleep(for: .milliseconds(300)) }
        #expect(await cp.attest(serviceAccountToken: good) == nil)
        await backend.shutdown()
    }
}
}

extension RealCluster {
/// What the control plane's own identity may do for workload identity, the tool gateway and GPU telemetry, as the real API server's
/// authorizer answers (SubjectAccessReview), after `ControllerAccess` is applied; and the gateway's credentials read
/// from the real Secret.
@Suite struct RealClusterControllerAccessTests {
    @Test(.enabled(if: RealClusterTests.kubeconfig != nil, KubeRig.skipMessage))
    func theControllerReviewsTokensAndReadsOnlyTheGatewaySecret() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-real-cluster")
        let (client, backend) = try await RealClusterBackendTests.backend(dir)
        let gatewayPlatform = try #require(ContractLoader.load(Fixtures.path("examples/agent/platform.yaml")).contract)
        let applied = await PlatformSync(client: client).sync(ControllerAccess.render(gatewayPlatform))
        #expect(applied.count == 6 && !applied.contains { $0.action == .failed }, "\(applied)")
        func may(_ verb: String, _ resource: String, group: String = "", namespace: String? = nil, name: String? = nil) async throws -> Bool {
            var attributes: [String: Any] = ["verb": verb, "resource": resource, "group": group]
            if let namespace { attributes["namespace"] = namespace }
            if let name { attributes["name"] = name }
            let r = try await client.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", [
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": ["user": Naming.controllerUser, "groups": ["system:serviceaccounts", "system:serviceaccounts:\(Naming.systemNamespace)", "system:authenticated"],
                         "resourceAttributes": attributes],
            ])
            return (r["status"] as? [String: Any])?["allowed"] as? Bool == true
        }
        #expect(try await may("create", "tokenreviews", group: "authentication.k8s.io"))
        #expect(try await may("get", "secrets", namespace: Naming.systemNamespace, name: Naming.gatewaySecret))
        #expect(try await !may("get", "secrets", namespace: Naming.systemNamespace, name: "another-secret"))
        #expect(try await !may("list", "secrets", namespace: Naming.systemNamespace))
        #expect(try await !may("get", "secrets", namespace: "tarmac-e2e-test", name: Naming.gatewaySecret))
        // GPU telemetry: dcgm-exporter's pages through the pod proxy, and nothing more of pods.
        #expect(try await may("get", "pods/proxy", namespace: "gpu-operator", name: "nvidia-dcgm-exporter-x"))
        #expect(try await may("list", "pods"))
        #expect(try await !may("delete", "pods", namespace: "gpu-operator", name: "nvidia-dcgm-exporter-x"))
        #expect(try await !may("create", "pods/exec", namespace: "gpu-operator", name: "nvidia-dcgm-exporter-x"))

        // The credentials the gateway forwards with, from the Secret (none before it exists).
        let path = "/api/v1/namespaces/\(Naming.systemNamespace)/secrets/\(Naming.gatewaySecret)"
        try await client.delete(path)
        var deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, (try? await client.get(path)) != nil { try await Task.sleep(for: .milliseconds(200)) }
        #expect(try await backend.gatewayCredentials().isEmpty)
        _ = try await client.create("/api/v1/namespaces/\(Naming.systemNamespace)/secrets", [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": Naming.gatewaySecret],
            "data": ["HELPDESK_TOKEN": Data("s3cret\n".utf8).base64EncodedString()],
        ])
        #expect(try await backend.gatewayCredentials() == ["HELPDESK_TOKEN": "s3cret"])
        try await client.delete(path)
        deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, (try? await client.get(path)) != nil { try await Task.sleep(for: .milliseconds(200)) }
        await backend.shutdown()
    }
}
}

/// Every test against a real cluster, one at a time: each control plane removes the objects of workloads it does not know.
@Suite(.serialized) enum RealCluster {}
