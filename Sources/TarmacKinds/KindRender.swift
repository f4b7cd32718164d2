import TarmacManifests
import TarmacModel

/// One workload's rendering in progress: what every kind starts from (the pod template, labels, annotations) and the
/// objects so far. A kind sets up the template and appends its objects.
public struct KindRender {
    public let workload: Workload
    public let size: Size
    public let platform: Platform
    public let options: RenderOptions
    public var template: PodTemplate
    public var objects: [KubeObject] = []
    public let labels: [String: String]
    public let annotations: [String: String]
    /// Kueue's queue and priority labels for the controller (empty unless rendering for Kueue).
    public let queueLabels: [String: String]

    public var name: String { workload.metadata.name }
    public var namespace: String { Naming.namespace(team: workload.metadata.team, env: workload.metadata.env) }
    /// Selects the workload's pods.
    public var selector: KValue { ["matchLabels": [.init(stringLiteral: Naming.workloadLabel): .string(name)]] }

    /// An object of the workload, with its labels and annotations.
    public func object(_ api: String, _ kind: String, name n: String? = nil, body: [String: KValue], extraLabels: [String: String] = [:]) -> KubeObject {
        KubeObject(api, kind, name: n ?? name, namespace: namespace, labels: labels.merging(extraLabels) { _, b in b }, annotations: annotations, body: body)
    }
}
