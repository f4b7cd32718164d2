import Testing
import TarmacDelivery
import TarmacKinds
import TarmacContract
import TarmacManifests
import TarmacModel

/// The HTTPRoute of an inference service: where it attaches, what it matches, how the prefix is rewritten, and each
/// version's Service with its weight, in order.
@Suite struct ServiceRouteTests {
    static let traffic = ServiceTraffic(team: "search", env: "prod", service: "ranker", backends: [
        .init(workload: "wl-1", name: "ranker", model: "ranker", version: "1.0.0", weight: 90, endpoints: ["http://10.0.0.1:8080"]),
        .init(workload: "wl-2", name: "ranker-1-1-0", model: "ranker", version: "1.1.0", weight: 10),
    ])

    @Test func aSplitRendersAsWeightedBackendRefsOnTheInferenceGateway() {
        let o = ServiceRoute.httpRoute(Self.traffic)
        #expect(o.apiVersion == "gateway.networking.k8s.io/v1" && o.kind == "HTTPRoute")
        #expect(o.name == "ranker" && o.namespace == "search-prod")
        #expect(o.labels == ["app.kubernetes.io/managed-by": "tarmac", "tarmac.dev/team": "search", "tarmac.dev/env": "prod", "tarmac.dev/service": "ranker"])
        #expect(o.annotations["tarmac.dev/versions"] == "ranker@1.0.0=90,ranker@1.1.0=10")
        let spec = o.body["spec"]
        #expect(spec?["parentRefs"] == [["group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "tarmac-system", "name": "tarmac-inference"]])
        let rule = spec?["rules"]?.list?.first
        #expect(rule?["matches"] == [["path": ["type": "PathPrefix", "value": "/search/ranker"]]])
        #expect(rule?["filters"] == [["type": "URLRewrite", "urlRewrite": ["path": ["type": "ReplacePrefixMatch", "replacePrefixMatch": "/"]]]])
        #expect(rule?["backendRefs"] == [
            ["group": "", "kind": "Service", "name": "ranker", "port": 80, "weight": 90],
            ["group": "", "kind": "Service", "name": "ranker-1-1-0", "port": 80, "weight": 10],
        ])
        // A request naming a version goes to it whatever its share: one rule per version, matching the header too.
        let rules = spec?["rules"]?.list ?? []
        #expect(rules.count == 3)
        #expect(rules[2]["matches"] == [["path": ["type": "PathPrefix", "value": "/search/ranker"],
                                         "headers": [["type": "Exact", "name": "X-Tarmac-Version", "value": "1.1.0"]]]])
        #expect(rules[2]["backendRefs"] == [["group": "", "kind": "Service", "name": "ranker-1-1-0", "port": 80]])
        // One version: no header rules.
        let single = ServiceRoute.httpRoute(ServiceTraffic(team: "search", env: "prod", service: "ranker", backends: [Self.traffic.backends[0]]))
        #expect(single.body["spec"]?["rules"]?.list?.count == 1)
        // Endpoints are the in-process gateway's business: the Service balances in the cluster.
        #expect(!o.yaml.contains("10.0.0.1"))
    }

    @Test func theGatewayIsNamedAsNamespaceSlashNameOrAName() throws {
        let p = try #require(ServiceRoute.Parent("edge/inference"))
        #expect(p.namespace == "edge" && p.name == "inference" && p.description == "edge/inference")
        #expect(ServiceRoute.Parent("inference")?.namespace == "tarmac-system")
        for bad in ["", "/x", "x/", "a/b/c", "Edge/x", "x_y", String(repeating: "a", count: 64), "-a"] {
            #expect(ServiceRoute.Parent(bad) == nil, "\(bad)")
        }
        let o = ServiceRoute.httpRoute(Self.traffic, parent: p)
        #expect(o.body["spec"]?["parentRefs"]?.list?.first?["namespace"] == "edge")
    }

    /// `tarmac render` gives each InferenceService its route, all of it on the version written.
    @Test func renderGivesEachInferenceServiceItsRoute() throws {
        let workloads = KindsTests.examples.flatMap { DocumentReader.read(file: $0).workloads }
        let out = Rendering.render(contract: KindsTests.contract, workloads: workloads)
        #expect(out.diagnostics.isEmpty, "\(out.diagnostics)")
        let objects = out.objects
        let services = objects.filter { $0.kind == "Deployment" && $0.labels["tarmac.dev/kind"] == "inferenceservice" }
        #expect(!services.isEmpty)
        for d in services {
            let route = try #require(objects.first { $0.kind == "HTTPRoute" && $0.name == d.name && $0.namespace == d.namespace }, "\(d.name)")
            #expect(route.body["spec"]?["rules"]?.list?.first?["backendRefs"] == [["group": "", "kind": "Service", "name": .string(d.name), "port": 80, "weight": 100]])
        }
        #expect(objects.filter { $0.kind == "HTTPRoute" }.count == services.count)
    }
}
