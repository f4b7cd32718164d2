import TarmacModel

/// Reads workload documents (one or many per file, YAML or JSON) and checks their structure.
public enum DocumentReader {
    public struct Result: Sendable {
        public var workloads: [Workload] = []
        /// Files that hold a Platform document (validated with `ContractLoader`).
        public var platformFiles: [String] = []
        public var diagnostics: [Diagnostic] = []
    }

    public static func read(file: String) -> Result {
        let loaded = YAMLLoader.loadFile(file)
        var result = read(documents: loaded.documents, file: file)
        result.diagnostics = loaded.diagnostics + result.diagnostics
        return result
    }

    public static func read(text: String, file: String) -> Result {
        let loaded = YAMLLoader.load(text, file: file)
        var result = read(documents: loaded.documents, file: file)
        result.diagnostics = loaded.diagnostics + result.diagnostics
        return result
    }

    public static func read(documents: [YNode], file: String) -> Result {
        var result = Result()
        for doc in documents {
            guard doc.entries != nil else {
                result.diagnostics.append(.error(at: doc.location, "expected a document with apiVersion, kind, metadata and spec, got \(doc.kindName)", rule: "type"))
                continue
            }
            guard let kindNode = doc["kind"], let kindText = kindNode.text else {
                result.diagnostics.append(.error(at: doc.location, "missing required field 'kind' in document"
                                                 + "; expected one of \(DocumentKind.allCases.map(\.rawValue).joined(separator: ", "))", rule: "missing-field"))
                continue
            }
            guard let kind = DocumentKind(rawValue: kindText) else {
                result.diagnostics.append(.error(at: kindNode.location, "unknown kind '\(kindText)'" + Suggestions.hint(for: kindText, in: DocumentKind.allCases.map(\.rawValue), noun: "kinds"), rule: "kind"))
                continue
            }
            switch kind {
            case .platform:
                if !result.platformFiles.contains(file) { result.platformFiles.append(file) }
            case .platformOverlay:
                result.diagnostics += SchemaChecker().check(doc, against: Schemas.platformOverlay, path: "")
            default:
                let problems = SchemaChecker().check(doc, against: Schemas.schema(for: kind), path: "")
                result.diagnostics += problems
                // Decoded even when structure is wrong, so reference and guardrail problems are reported in the same run;
                // `isValid` keeps such a workload from ever being rendered or submitted.
                var workload = WorkloadDecoder.decode(doc, kind: kind)
                workload.isValid = !problems.hasErrors
                result.workloads.append(workload)
            }
        }
        return result
    }
}
