import TarmacModel

/// Loads a platform contract: follows `extends` (detecting cycles), loads environment overlays,
/// checks every layer and the merged result, then checks every resolved variant's semantics.
/// All problems are reported together; the contract is returned only if there is no error.
public enum ContractLoader {
    public struct Result: Sendable {
        public var contract: Contract?
        public var diagnostics: [Diagnostic]
    }

    public static func load(_ path: String) -> Result {
        var diagnostics: [Diagnostic] = []
        var files: [String] = []
        guard let document = loadLayer(path, chain: [], reference: nil, files: &files, diagnostics: &diagnostics) else {
            return Result(contract: nil, diagnostics: diagnostics.normalized())
        }
        diagnostics += SchemaChecker(checkRequired: true).check(document, against: Schemas.platform, path: "")
        guard document["spec"]?.entries != nil else { return Result(contract: nil, diagnostics: diagnostics.normalized()) }

        var overlays: [String: YNode] = [:]
        for env in document["spec"]?["environments"]?.entries ?? [] {
            guard let ref = env.value["overlay"], let rel = ref.text else { continue }
            let file = Paths.resolve(rel, from: ref.location.file)
            let loaded = YAMLLoader.loadFile(file, reference: ref.location)
            files.append(file)
            diagnostics += loaded.diagnostics
            guard loaded.diagnostics.isEmpty || !loaded.documents.isEmpty,
                  let doc = single(loaded.documents, file: file, expected: .platformOverlay, diagnostics: &diagnostics) else { continue }
            diagnostics += SchemaChecker(checkRequired: true).check(doc, against: Schemas.platformOverlay, path: "")
            overlays[env.key] = doc
        }
        // Semantic checks run even when some values are malformed, so one run reports everything;
        // entities with a malformed field of their own are skipped, so nothing cascades.
        let contract = Contract(path: path, document: document, overlays: overlays, files: files)
        var structural = diagnostics
        for variant in contract.variants {
            // Overlays and overrides are partial; what they resolve to must be complete.
            let resolved = document.setting("spec", to: variant.spec)
            structural += SchemaChecker(checkRequired: true).check(resolved, against: Schemas.platform, path: "")
        }
        let malformed = Set(structural.filter { $0.severity == .error }.compactMap(\.location))
        diagnostics = structural
        for variant in contract.variants { diagnostics += PlatformValidator.validate(variant, skipping: malformed) }
        let all = diagnostics.normalized()
        return Result(contract: all.hasErrors ? nil : contract, diagnostics: all)
    }

    /// One Platform file merged over the files it extends.
    static func loadLayer(_ path: String, chain: [(canonical: String, display: String)], reference: SourceLocation?,
                          files: inout [String], diagnostics: inout [Diagnostic]) -> YNode? {
        let loaded = YAMLLoader.loadFile(path, reference: reference)
        files.append(path)
        diagnostics += loaded.diagnostics
        if loaded.documents.isEmpty && !loaded.diagnostics.isEmpty { return nil }
        guard let doc = single(loaded.documents, file: path, expected: .platform, diagnostics: &diagnostics) else { return nil }
        diagnostics += SchemaChecker(checkRequired: false).check(doc, against: Schemas.platform, path: "")

        let me = (canonical: Paths.canonical(path), display: path)
        var base: YNode?
        for ref in doc["spec"]?["extends"]?.items ?? [] {
            guard let rel = ref.text else { continue }
            let target = Paths.resolve(rel, from: path)
            let canonical = Paths.canonical(target)
            if let start = (chain + [me]).firstIndex(where: { $0.canonical == canonical }) {
                let cycle = (chain + [me])[start...].map(\.display) + [target]
                diagnostics.append(.error(at: ref.location, "extends cycle: \(cycle.joined(separator: " -> "))", rule: "extends-cycle",
                                          help: "remove one of these extends entries"))
                continue
            }
            guard let layer = loadLayer(target, chain: chain + [me], reference: ref.location, files: &files, diagnostics: &diagnostics) else { continue }
            base = base.map { Layering.merge($0, layer) } ?? layer
        }
        let own = doc["spec"].map { doc.setting("spec", to: $0.removing("extends")) } ?? doc
        return base.map { Layering.merge($0, own) } ?? own
    }

    /// The one document a contract file must hold, of the expected kind.
    static func single(_ documents: [YNode], file: String, expected: DocumentKind, diagnostics: inout [Diagnostic]) -> YNode? {
        guard let doc = documents.first else {
            if !diagnostics.contains(where: { $0.location?.file == file }) {
                diagnostics.append(.error(at: SourceLocation(file: file, line: 1, column: 1), "file holds no document; expected a \(expected.rawValue)", rule: "kind"))
            }
            return nil
        }
        if documents.count > 1 {
            diagnostics.append(.error(at: documents[1].location, "a \(expected.rawValue) file holds exactly one document", rule: "kind"))
        }
        guard doc.entries != nil else {
            diagnostics.append(.error(at: doc.location, "expected a \(expected.rawValue) mapping, got \(doc.kindName)", rule: "type"))
            return nil
        }
        if let kind = doc["kind"], let k = kind.text, k != expected.rawValue {
            diagnostics.append(.error(at: kind.location, "expected kind \(expected.rawValue), got '\(k)'", rule: "kind"))
            return nil
        }
        return doc
    }
}
