import Foundation
import Testing
import TarmacDelivery
import TarmacKubernetes
import TarmacKubernetesBackend

/// The HTTPRoute router's error paths against a scripted API server (what it does on a real one: RealClusterRolloutTests).
@Suite struct TrafficRouterErrorPathTests {
    static let traffic = ServiceTraffic(team: "search", env: "prod", service: "ranker", backends: [
        .init(workload: "wl-1", name: "ranker", model: "ranker", version: "1.0.0", weight: 90),
        .init(workload: "wl-2", name: "ranker-1-1-0", model: "ranker", version: "1.1.0", weight: 10),
    ])
    static let routePath = "/apis/gateway.networking.k8s.io/v1/namespaces/search-prod/httproutes/ranker"

    func client(_ url: String) throws -> KubeClient {
        try KubeClient(ClusterAccess(server: url, token: "t", source: "test"),
                       retry: RetryPolicy(attempts: 1, base: .milliseconds(10), cap: .milliseconds(10), timeout: .seconds(5)))
    }

    /// Without Gateway API's CRDs the router applies nothing and says why (and does not ask again at every pass).
    @Test func aClusterWithoutGatewayAPIGetsNoRouteAndIsToldWhy() async throws {
        let fake = FakeAPIServer()
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let router = KubernetesTrafficRouter(client: try client(url))
        await router.route([Self.traffic])
        await router.route([Self.traffic])
        let why = try #require(await router.unavailable)
        #expect(why.contains("Gateway API is not installed") && why.contains("tarmac-system/tarmac-inference"), "\(why)")
        #expect(!fake.requests.contains { $0.method == "PATCH" })
        #expect(fake.requests.filter { $0.path == KubernetesTrafficRouter.group }.count == 1, "looked up once, not at every pass")
    }

    /// A refused apply is kept as the service's problem and tried again at the next pass; a success clears it. Routes
    /// Tarmac made before a restart that are no longer wanted are deleted.
    @Test func aRefusedApplyIsReportedAndRetriedAndStaleRoutesAreDeleted() async throws {
        let fake = FakeAPIServer()
        fake.add("LIST \(KubernetesTrafficRouter.group)", .status(200, #"{"kind":"APIResourceList","resources":[{"name":"httproutes","kind":"HTTPRoute"}]}"#))
        fake.add("LIST \(KubernetesTrafficRouter.group)/httproutes",
                 .status(200, #"{"kind":"HTTPRouteList","metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"old","namespace":"search-prod"}}]}"#))
        fake.add("PATCH \(Self.routePath)",
                 .status(422, #"{"kind":"Status","reason":"Invalid","message":"HTTPRoute.gateway.networking.k8s.io \"ranker\" is invalid","code":422}"#),
                 .status(200, #"{"kind":"HTTPRoute","metadata":{"name":"ranker"}}"#))
        fake.add("DELETE /apis/gateway.networking.k8s.io/v1/namespaces/search-prod/httproutes/old", .status(200, #"{"kind":"Status","status":"Success"}"#))
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let router = KubernetesTrafficRouter(client: try client(url))
        await router.route([Self.traffic])
        #expect(await router.problems["search/ranker"]?.contains("is invalid") == true)
        #expect(await router.unavailable == nil)
        await router.route([Self.traffic])
        #expect(await router.problems.isEmpty)
        await router.route([Self.traffic])
        let patches = fake.requests.filter { $0.method == "PATCH" }
        #expect(patches.count == 2, "refused, then applied; the third pass had nothing to change")
        #expect(patches.allSatisfy { $0.query.contains("fieldValidation=Strict") && $0.query.contains("fieldManager=tarmac") && $0.contentType == "application/apply-patch+yaml" })
        #expect(fake.requests.filter { $0.method == "DELETE" }.map(\.path) == ["/apis/gateway.networking.k8s.io/v1/namespaces/search-prod/httproutes/old"])
    }
}
