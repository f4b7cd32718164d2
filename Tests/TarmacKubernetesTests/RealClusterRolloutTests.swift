import Foundation
import Testing
import TarmacContract
import TarmacCore
import TarmacDelivery
import TarmacKinds
import TarmacKubernetes
import TarmacKubernetesBackend
import TarmacManifests
import TarmacRuntime
import TarmacStoreSQLite
import TarmacTesting
import Yams

/// Gateway API for the real-cluster tests: TARMAC_GATEWAY_API_CRDS names a folder of its standard CRDs (from
/// kubernetes-sigs/gateway-api, `config/crd/standard`, fetched, not committed), which the test applies to the cluster;
/// `installed` says the cluster has them already.
enum GatewayAPI {
    static let crds = ProcessInfo.processInfo.environment["TARMAC_GATEWAY_API_CRDS"].flatMap { $0.isEmpty ? nil : $0 }
    static let skipMessage: Comment = "set TARMAC_K8S_BIN (README: Testing on a real control plane) and TARMAC_GATEWAY_API_CRDS to a folder of Gateway API's standard CRDs (kubernetes-sigs/gateway-api: config/crd/standard), or to `installed` for a cluster that has them"

    /// Applies every CustomResourceDefinition in the folder and waits until HTTPRoutes are served.
    static func install(_ client: KubeClient) async throws {
        guard let crds, crds != "installed" else { return }
        let files = try FileManager.default.contentsOfDirectory(atPath: crds).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        var applied = 0
        for f in files {
            let text = try String(contentsOfFile: crds + "/" + f, encoding: .utf8)
            for case let doc as [String: Any] in try Yams.load_all(yaml: text) where doc["kind"] as? String == "CustomResourceDefinition" {
                guard let name = (doc["metadata"] as? [String: Any])?["name"] as? String else { continue }
                _ = try await client.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/\(name)", doc)
                applied += 1
            }
        }
        try #require(applied > 0, "no CustomResourceDefinition in \(crds)")
        let end = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < end {
            let names = ((try? await client.get(KubernetesTrafficRouter.group))?["resources"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            if names.contains("httproutes") { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the API server did not serve httproutes within 60 s of applying \(applied) CRDs")
    }
}

extension RealCluster {
/// Models on Kubernetes (#26): an InferenceService runs as its Deployment and Service; a rollout starts the new version
/// as a second Deployment and Service beside it, and the service's HTTPRoute on the inference Gateway sends each its
/// share (weighted backendRefs). Every change of the weights is a server-side apply by Tarmac that the test reads back
/// from the API server; the route is deleted when the service is no longer routed.
@Suite struct RealClusterRolloutTests {
    static let enabled = RealClusterTests.kubeconfig != nil && GatewayAPI.crds != nil

    static func inferenceService(_ name: String, model: String) -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: InferenceService
        metadata: {name: \(name), team: tarmac-e2e, env: test}
        spec:
          size: tiny
          model: \(model)
          image: \(ProcessInfo.processInfo.environment["TARMAC_TEST_IMAGE"] ?? "docker.io/library/busybox:1.36")
          command: [sh, -c, "exec httpd -f -p 8080"]
          replicas: 1
          port: 8080
        """
    }

    /// The route's backends as the API server has them: Service name and weight.
    static func backends(_ client: KubeClient, _ name: String) async throws -> [String: Int] {
        let route = try await client.get("\(KubernetesTrafficRouter.group)/namespaces/tarmac-e2e-test/httproutes/\(name)")
        let rules = (route["spec"] as? [String: Any])?["rules"] as? [[String: Any]] ?? []
        var out: [String: Int] = [:]
        for ref in rules.first?["backendRefs"] as? [[String: Any]] ?? [] {
            if let n = ref["name"] as? String { out[n] = ref["weight"] as? Int }
        }
        return out
    }

    @Test(.enabled(if: enabled, GatewayAPI.skipMessage))
    func aRolloutMovesTheHTTPRouteWeightsByServerSideApply() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-real-rollout")
        let (client, backend) = try await RealClusterBackendTests.backend(dir)
        try await GatewayAPI.install(client)
        // The Gateway the routes attach to, as a platform team would create it (no controller acts on it here).
        _ = try await client.apply("\(KubernetesTrafficRouter.group)/gatewayclasses/tarmac-test",
                                   ["apiVersion": ServiceRoute.apiVersion, "kind": "GatewayClass", "metadata": ["name": "tarmac-test"],
                                    "spec": ["controllerName": "tarmac.dev/test-none"]])
        _ = try await client.apply("\(KubernetesTrafficRouter.group)/namespaces/tarmac-system/gateways/tarmac-inference",
                                   ["apiVersion": ServiceRoute.apiVersion, "kind": "Gateway", "metadata": ["name": "tarmac-inference", "namespace": "tarmac-system"],
                                    "spec": ["gatewayClassName": "tarmac-test",
                                             "listeners": [["name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": ["namespaces": ["from": "All"]]]]]])

        let cp = ControlPlane(contract: RealClusterBackendTests.contract, store: try SQLiteStore(path: dir.path + "/tarmac.db"), backend: backend)
        try await cp.start()
        let loop = Task { await cp.run() }
        defer { loop.cancel() }
        let runner = RolloutRunner(controlPlane: cp, metrics: nil, runsImages: true) { await cp.current($0)?.state == .running }
        let router = KubernetesTrafficRouter(client: client)
        let sync = TrafficSync(router: router) { TrafficPlan.services(await cp.servedServices(), rollouts: await runner.routes()) }
        let admin = Principal(tokenID: "t", name: "e2e", role: .admin, team: nil)
        let name = "ranker-\(UInt16.random(in: 0...UInt16.max))"
        let stable = try await cp.submit(text: Self.inferenceService(name, model: "ranker@1.0.0"), requestID: nil, by: admin, runsImages: true).workload.id

        /// Waits, ticking the runner and syncing routes, until `done`.
        func until(_ what: String, _ done: () async throws -> Bool) async throws {
            let end = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < end {
                await runner.tick()
                await sync.sync()
                if try await done() { return }
                try await Task.sleep(for: .milliseconds(300))
            }
            let problems = await router.problems
            Issue.record("timed out waiting for \(what); router: \(await router.unavailable ?? "available"), problems \(problems)")
            throw CancellationError()
        }

        // Running: its route sends everything to its own Service.
        try await until("\(name) to run and be routed") {
            guard await cp.current(stable)?.state == .running else { return false }
            return (try? await Self.backends(client, name)) == [name: 100]
        }
        let first = try await client.get("\(KubernetesTrafficRouter.group)/namespaces/tarmac-e2e-test/httproutes/\(name)")
        let meta = first["metadata"] as? [String: Any] ?? [:]
        let managers = (meta["managedFields"] as? [[String: Any]] ?? []).map { "\($0["manager"] as? String ?? "")/\($0["operation"] as? String ?? "")" }
        #expect(managers.contains("tarmac/Apply"), "\(managers)")
        let spec = first["spec"] as? [String: Any] ?? [:]
        let parent = (spec["parentRefs"] as? [[String: Any]])?.first
        #expect(parent?["name"] as? String == "tarmac-inference" && parent?["namespace"] as? String == "tarmac-system")
        let match = ((spec["rules"] as? [[String: Any]])?.first?["matches"] as? [[String: Any]])?.first?["path"] as? [String: Any]
        #expect(match?["value"] as? String == "/tarmac-e2e/\(name)")
        let changesBefore = await router.changes
        // Accepted under strict field validation, which is not vacuous: a misspelt field is refused.
        var wrong = ServiceRoute.httpRoute(ServiceTraffic(team: "tarmac-e2e", env: "test", service: name, backends: [
            .init(workload: stable, name: name, model: "ranker", version: "1.0.0", weight: 100)]))
        wrong.body["spec"]?["rules"] = [["backendRefs": [["name": .string(name), "port": 80, "wieght": 100]]]]
        do {
            _ = try await client.apply(ResourcePath.of(wrong) + "?fieldValidation=Strict&dryRun=All", wrong.json)
            Issue.record("a misspelt field is accepted")
        } catch let e as KubeError {
            // Server-side apply reports a field outside the schema as a failed typed patch (500), naming the field.
            #expect(e.message.contains("wieght") && e.message.contains("not declared in schema"), "\(e)")
        }

        // A canary at 30%: the new version runs as its own Deployment and Service, and gets 30% once it runs.
        var canary = RolloutSpec(strategy: .canary(steps: [.setWeight(30), .pause(seconds: nil)]), rollbackWindow: 600)
        canary.rules = []
        _ = try await runner.start(service: name, team: nil, to: "1.1.0", spec: canary, by: admin)
        let next = "\(name)-1-1-0"
        // Listed at once, at 0% until it runs.
        await sync.sync()
        #expect(try await Self.backends(client, name) == [name: 100, next: 0])
        try await until("the canary's share to be applied") { (try? await Self.backends(client, name)) == [name: 70, next: 30] }
        for kind in ["apps/v1/namespaces/tarmac-e2e-test/deployments", "v1/namespaces/tarmac-e2e-test/services"] {
            for n in [name, next] {
                let path = (kind.hasPrefix("v1") ? "/api/" : "/apis/") + kind + "/" + n
                let o = try await client.get(path)
                #expect((o["metadata"] as? [String: Any])?["name"] as? String == n, "\(path)")
            }
        }
        // With two versions the route also sends a request naming one (X-Tarmac-Version) to it: accepted by the API server.
        let split = try await client.get("\(KubernetesTrafficRouter.group)/namespaces/tarmac-e2e-test/httproutes/\(name)")
        let headerRules = ((split["spec"] as? [String: Any])?["rules"] as? [[String: Any]] ?? []).dropFirst().compactMap { rule -> String? in
            let header = (((rule["matches"] as? [[String: Any]])?.first?["headers"] as? [[String: Any]])?.first)
            let backend = (rule["backendRefs"] as? [[String: Any]])?.first?["name"] as? String
            return header.map { "\($0["value"] as? String ?? "")->\(backend ?? "")" }
        }
        #expect(headerRules == ["1.0.0->\(name)", "1.1.0->\(next)"], "\(split["spec"] ?? "")")
        let deployment = try await client.get("/apis/apps/v1/namespaces/tarmac-e2e-test/deployments/\(next)")
        let env = ((((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first?["env"] as? [[String: Any]] ?? []
        #expect(env.contains { $0["name"] as? String == "MODEL_VERSION" && $0["value"] as? String == "1.1.0" })

        // Promoted: all of it on the new version, again by apply; unchanged weights apply nothing.
        _ = try await runner.promote(service: name, team: nil, by: admin)
        try await until("the promotion to be applied") { (try? await Self.backends(client, name)) == [name: 0, next: 100] }
        let settled = await router.changes
        #expect(settled == changesBefore + 3, "one apply each: the canary listed at 0%, its 30%, the promotion")
        await sync.sync()
        #expect(await router.changes == settled, "an unchanged split applies nothing")

        // No longer routed (nothing runs): the route is deleted.
        for w in [stable, (await runner.routes()).first?.backends.last?.workload].compactMap({ $0 }) { _ = try? await cp.cancel(w, by: admin) }
        await router.route([])
        do {
            _ = try await client.get("\(KubernetesTrafficRouter.group)/namespaces/tarmac-e2e-test/httproutes/\(name)")
            Issue.record("the route of a service no longer routed is deleted")
        } catch let e as KubeError {
            #expect(e.isNotFound)
        }
        await backend.shutdown()
    }
}
}
