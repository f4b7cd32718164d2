import ArgumentParser
import Foundation
import TarmacAPI
import TarmacContract
import TarmacCore

struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Review serving documents: the review an environment's promotion contract may ask for before an InferenceService serves there.",
        discussion: """
        A review is of one document's exact text (its SHA-256 digest): the reviewer runs this on the file that will be submitted, and a submit of that file (a new service, or a rollout written in its spec.rollout) then passes the review gate when someone other than the submitter reviewed it. Changing the document needs a new review. The reviewer is a member of the document's team or an admin; every review is in the audit trail.

        Examples:
          tarmac review approve ranker-serve.yaml --comment "SLOs look right"
          tarmac review list ranker-serve.yaml
        """,
        subcommands: [Approve.self, List.self])

    /// The workload documents of the files, each with its text as `tarmac submit` sends it.
    static func documents(_ paths: [String]) throws -> [(file: String, line: Int, text: String)] {
        let (files, diagnostics) = Inputs.expand(paths)
        if let d = diagnostics.first { throw ValidationError(d.description) }
        var out: [(String, Int, String)] = []
        for f in files {
            let text = try String(contentsOfFile: f, encoding: .utf8)
            for d in YAMLDocuments.split(text) where !DocumentReader.read(text: d.text, file: f).workloads.isEmpty {
                out.append((f, d.firstLine, d.text))
            }
        }
        guard !out.isEmpty else { throw ValidationError("no workload document in \(paths.joined(separator: ", "))") }
        return out
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve every workload document of these files (their exact text).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "YAML files (or directories) holding the documents as they will be submitted.") var paths: [String]
        @Option(help: "Why it is right to serve (kept in the audit trail).") var comment: String?

        func run() async throws {
            let docs = try ReviewCommand.documents(paths)
            try await runClient {
                var views: [ReviewView] = []
                for d in docs {
                    let body = ReviewRequest(document: d.text, comment: comment)
                    let (status, data) = try await client.client().call(.POST, "/v1/reviews", body: try APIJSON.encoder.encode(body), contentType: "application/json")
                    let v = try ServerClient.decode(ReviewView.self, data)
                    views.append(v)
                    if client.output.format == .text {
                        print("\(d.file):\(d.line): \(v.kind) \(v.team)/\(v.name) \(status == 201 ? "reviewed" : "was reviewed already") by \(v.by) (\(v.digest))")
                    }
                }
                if client.output.format != .text { try printStructured(try APIJSON.encoder.encode(ReviewList(items: views)), client.output.format) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who reviewed the documents of these files, as they are now.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "YAML files (or directories).") var paths: [String]

        func run() async throws {
            let docs = try ReviewCommand.documents(paths)
            try await runClient {
                var rows: [[String]] = [], all: [ReviewView] = []
                for d in docs {
                    let w = DocumentReader.read(text: d.text, file: d.file).workloads[0]
                    let digest = DocumentReview.digest(of: d.text)
                    let data = try await client.client().call(.GET, "/v1/reviews?team=\(ServerClient.path(w.metadata.team))&digest=\(digest)").body
                    let items = try ServerClient.decode(ReviewList.self, data).items
                    all += items
                    let who = items.isEmpty ? "not reviewed" : items.map(\.by).joined(separator: ", ")
                    rows.append(["\(d.file):\(d.line)", "\(w.kind.rawValue) \(w.metadata.team)/\(w.metadata.name)", String(digest.prefix(19)) + "…", who])
                }
                guard client.output.format == .text else { return try printStructured(try APIJSON.encoder.encode(ReviewList(items: all)), client.output.format) }
                print(Terminal.table(["DOCUMENT", "WORKLOAD", "DIGEST", "REVIEWED BY"], rows))
            }
        }
    }
}
