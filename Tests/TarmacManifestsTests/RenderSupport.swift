import Foundation
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel
import TarmacTesting

enum RenderSupport {
    static let contract: Contract = {
        let r = ContractLoader.load(Fixtures.examplePlatform)
        guard let c = r.contract else { fatalError("example platform does not load: \(r.diagnostics)") }
        return c
    }()

    static let workloads: [Workload] = Fixtures.files(in: Fixtures.exampleWorkloads).flatMap { DocumentReader.read(file: $0).workloads }

    static func render(kueue: Bool = false, workloads: [Workload] = workloads) -> [KubeObject] {
        let out = Rendering.render(contract: contract, workloads: workloads, options: RenderOptions(kueue: kueue))
        precondition(out.diagnostics.isEmpty, "\(out.diagnostics)")
        return out.objects
    }

    /// All objects as one stream, each preceded by its file path: the golden-file format.
    static func stream(_ objects: [KubeObject]) -> String {
        objects.map { "# \($0.relativePath)\n" + $0.yaml }.joined(separator: "---\n")
    }

    /// Pod templates of every workload object.
    static func podSpecs(_ objects: [KubeObject]) -> [(KubeObject, KValue)] {
        objects.compactMap { o in
            guard ["Job", "Deployment"].contains(o.kind), let spec = o.body["spec"]?["template"]?["spec"] else { return nil }
            return (o, spec)
        }
    }
}
