import Foundation
import Logging
import TarmacKubernetes
import TarmacManifests
import TarmacMetering
import TarmacModel

/// GPU telemetry on Kubernetes: dcgm-exporter's pages, one per GPU node, read every `every` through the API server's
/// pod proxy (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/metrics`: the control plane needs no route to pod IPs, only
/// `get` on `pods/proxy`). Its pods are found by the contract's `metrics.dcgmExporter` or by the usual labels. Each
/// GPU's sample is placed on the exporter pod's node; the pods dcgm-exporter says use a GPU are resolved to Tarmac's
/// workloads (so a GPU is attributed to the workloads the kubelet gave it to, not by device index). Readings older
/// than three periods are dropped: a dead exporter does not leave a frozen reading behind.
public actor DCGMExporterSource: TelemetrySource {
    let client: KubeClient
    let settings: DCGMExporterSettings
    let backend: KubernetesBackend
    let logger: Logger
    var samples: [GPUSample] = []
    var readAt: ContinuousClock.Instant?
    /// What was last said about finding or reading the exporters (logged once per change).
    var said = ""

    public init(client: KubeClient, settings: DCGMExporterSettings, backend: KubernetesBackend, logger: Logger) {
        self.client = client
        self.settings = settings
        self.backend = backend
        self.logger = logger
    }

    public func latest() async -> [GPUSample] {
        guard let at = readAt, ContinuousClock.now - at < .seconds(3 * max(1, settings.every.seconds)) else { return [] }
        return samples
    }

    public func run() async {
        while !Task.isCancelled {
            await refresh()
            try? await Task.sleep(for: .seconds(max(1, settings.every.seconds)))
        }
    }

    /// One read of every exporter (also what tests call).
    public func refresh() async {
        let exporters = await findExporters()
        guard !exporters.isEmpty else {
            say("no dcgm-exporter pod found (labels \(settings.selectors.joined(separator: " or "))\(settings.namespace.map { " in namespace \($0)" } ?? "")): no GPU telemetry")
            return
        }
        let client = client, port = settings.port
        var read: [GPUSample] = []
        var failures: [String] = []
        await withTaskGroup(of: (String, Result<[GPUSample], any Error>).self) { group in
            for e in exporters {
                group.addTask {
                    do {
                        let page = try await client.rawOnce("/api/v1/namespaces/\(e.namespace)/pods/\(e.name):\(port)/proxy/metrics", timeout: .seconds(5))
                        let found = DCGMExporter.samples(String(decoding: page, as: UTF8.self), node: e.node).map { s in
                            var s = s
                            s.node = e.node
                            return s
                        }
                        return (e.name, .success(found))
                    } catch {
                        return (e.name, .failure(error))
                    }
                }
            }
            for await (name, result) in group {
                switch result {
                case .success(let s): read += s
                case .failure(let error): failures.append("\(name): \(error)")
                }
            }
        }
        let owners = await backend.workloads(ofPods: Set(read.flatMap(\.pods)))
        for i in read.indices { read[i].workloads = read[i].pods.compactMap { owners[$0] } }
        samples = read.sorted { ($0.node, $0.gpu) < ($1.node, $1.gpu) }
        readAt = .now
        say(failures.isEmpty ? "reading \(exporters.count) dcgm-exporter pod(s): \(read.count) GPUs"
                             : "could not read \(failures.count) of \(exporters.count) dcgm-exporter pod(s): \(failures.sorted().joined(separator: "; "))")
    }

    struct Exporter: Sendable {
        var namespace: String
        var name: String
        var node: String
    }

    func findExporters() async -> [Exporter] {
        let collection = settings.namespace.map { "/api/v1/namespaces/\($0)/pods" } ?? "/api/v1/pods"
        for selector in settings.selectors {
            let query = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? selector
            guard let items = try? await client.list(collection + "?labelSelector=" + query).items else { continue }
            let found: [Exporter] = items.compactMap { pod in
                let md = pod["metadata"] as? [String: Any] ?? [:]
                guard (pod["status"] as? [String: Any])?["phase"] as? String == "Running", let ns = md["namespace"] as? String, let name = md["name"] as? String,
                      let node = (pod["spec"] as? [String: Any])?["nodeName"] as? String else { return nil }
                return Exporter(namespace: ns, name: name, node: node)
            }
            if !found.isEmpty { return found }
        }
        return []
    }

    func say(_ text: String) {
        guard text != said else { return }
        said = text
        logger.info("GPU telemetry: \(text)")
    }
}

extension KubernetesBackend {
    /// The Tarmac workload each pod (`namespace/name`) belongs to, by its label, from the cache; pods of others are left out.
    public func workloads(ofPods pods: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        for key in pods {
            if let pod = cache[.pods][key], let id = AttemptStatus.labels(pod)[Naming.workloadIDLabel] { out[key] = id }
        }
        return out
    }
}
