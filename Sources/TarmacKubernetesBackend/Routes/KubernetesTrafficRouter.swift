import Foundation
import Logging
import TarmacDelivery
import TarmacKinds
import TarmacKubernetes
import TarmacManifests

/// Puts each inference service's split in force in the cluster: one Gateway API `HTTPRoute` per service
/// (`ServiceRoute`), created and changed by server-side apply with strict field validation, deleted when the service is
/// no longer routed. Only what changed is applied. Without Gateway API in the cluster (its CRDs not installed) nothing
/// is applied and `unavailable` says why; it looks again every minute.
public actor KubernetesTrafficRouter: TrafficRouter {
    let client: KubeClient
    public let parent: ServiceRoute.Parent
    let logger: Logger
    /// What this router last applied (or found in the cluster at start), by object path.
    var applied: [String: KubeObject?] = [:]
    var checkedAt: Date?
    /// Why no route is applied: Gateway API is not served by the cluster (nil while it is).
    public private(set) var unavailable: String?
    /// The last failure per service (`TEAM/SERVICE`), until an apply succeeds.
    public private(set) var problems: [String: String] = [:]
    /// Applies and deletes done, for tests and `/metrics`.
    public private(set) var changes = 0

    public static let group = "/apis/gateway.networking.k8s.io/v1"

    public init(client: KubeClient, parent: ServiceRoute.Parent = ServiceRoute.Parent(), logger: Logger = Logger(label: "tarmac.routes")) {
        self.client = client
        self.parent = parent
        self.logger = logger
    }

    public func route(_ services: [ServiceTraffic]) async {
        guard await isAvailable() else { return }
        var wanted: Set<String> = []
        for t in services {
            let o = ServiceRoute.httpRoute(t, parent: parent)
            let path = ResourcePath.of(o)
            wanted.insert(path)
            if case .some(.some(let last)) = applied[path], last == o { continue }
            do {
                _ = try await client.apply(path + "?fieldValidation=Strict", o.json)
                applied[path] = o
                problems[t.key] = nil
                changes += 1
                logger.info("route applied", metadata: ["service": "\(t.key)", "versions": "\(o.annotations["tarmac.dev/versions"] ?? "")"])
            } catch {
                if problems[t.key] != "\(error)" { logger.error("route not applied", metadata: ["service": "\(t.key)", "error": "\(error)"]) }
                problems[t.key] = "\(error)"
            }
        }
        for path in applied.keys.sorted() where !wanted.contains(path) {
            do {
                try await client.delete(path)
                applied[path] = nil
                changes += 1
                logger.info("route deleted", metadata: ["route": "\(path)"])
            } catch {
                logger.error("route not deleted", metadata: ["route": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// Whether the cluster serves HTTPRoutes; the first time it does, the routes Tarmac made before are adopted (and
    /// deleted by the next `route` unless still wanted).
    func isAvailable() async -> Bool {
        if unavailable == nil, checkedAt != nil { return true }
        if let at = checkedAt, Date().timeIntervalSince(at) < 60 { return false }
        checkedAt = Date()
        do {
            let resources = try await client.get(Self.group)
            let names = (resources["resources"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            guard names.contains("httproutes") else {
                unavailable = "the cluster serves \(Self.group) without httproutes"
                return false
            }
            let (items, _) = try await client.list(Self.group + "/httproutes?labelSelector=" + "\(Naming.managedBy)=tarmac".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            for item in items {
                let m = item["metadata"] as? [String: Any] ?? [:]
                guard let name = m["name"] as? String, let ns = m["namespace"] as? String else { continue }
                let path = ResourcePath.object(apiVersion: ServiceRoute.apiVersion, kind: "HTTPRoute", name: name, namespace: ns)
                if applied[path] == nil { applied[path] = .some(nil) }
            }
            if unavailable != nil { logger.info("Gateway API is served now: inference routes are applied") }
            unavailable = nil
            return true
        } catch let e as KubeError where e.isNotFound {
            if unavailable == nil {
                logger.warning("Gateway API is not installed in the cluster: InferenceServices get no HTTPRoute (install its standard CRDs and a Gateway \(parent))")
            }
            unavailable = "Gateway API is not installed in the cluster (no \(Self.group)): install its standard CRDs and a Gateway \(parent)"
            return false
        } catch {
            unavailable = "Gateway API could not be looked up: \(error)"
            return false
        }
    }
}
