import Foundation
import TarmacKinds
import TarmacContract
import TarmacModel
import TarmacTesting

enum Support {
    /// The example contract, loaded once.
    static let contract: Contract = {
        let r = ContractLoader.load(Fixtures.examplePlatform)
        guard let c = r.contract else { fatalError("example platform does not load: \(r.diagnostics)") }
        return c
    }()

    /// Reads and validates workload text against the example contract; returns every diagnostic.
    static func check(_ text: String, file: String = "w.yaml") -> [Diagnostic] {
        let read = DocumentReader.read(text: text, file: file)
        var out = read.diagnostics
        for w in read.workloads { out += Kinds.validate(w, against: contract) }
        return out.normalized()
    }

    static func headlines(_ ds: [Diagnostic], relativeTo dir: String) -> [String] {
        let prefix = dir.hasSuffix("/") ? dir : dir + "/"
        return ds.map { $0.headline.replacingOccurrences(of: prefix, with: "") }
    }
}
