import ArgumentParser
import Foundation
import TarmacContract
import TarmacModel

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of a document kind, or write all of them.",
        discussion: """
        Editors use these to validate and complete Tarmac documents. The repository publishes them under schemas/.

        Examples:
          tarmac schema TrainingJob
          tarmac schema --out schemas
        """)

    @Option(name: .long, help: "Write every schema into this directory as <kind>.json.")
    var out: String?

    @Argument(help: "Document kind: \(DocumentKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: String?

    func run() throws {
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for k in DocumentKind.allCases {
                let path = out + "/" + k.rawValue.lowercased() + ".json"
                try JSONSchemaWriter.document(for: k).write(toFile: path, atomically: true, encoding: .utf8)
                print(path)
            }
            return
        }
        guard let kind else { throw ValidationError("name a kind, or use --out DIR") }
        guard let k = DocumentKind(rawValue: kind) ?? DocumentKind.allCases.first(where: { $0.rawValue.lowercased() == kind.lowercased() }) else {
            throw ValidationError("unknown kind '\(kind)'" + Suggestions.hint(for: kind, in: DocumentKind.allCases.map(\.rawValue), noun: "kinds"))
        }
        print(JSONSchemaWriter.document(for: k), terminator: "")
    }
}
