import ArgumentParser
import TarmacKinds
import Foundation
import TarmacContract
import TarmacModel

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check platform contracts and workloads; report every problem at once.",
        discussion: """
        Each problem is printed as FILE:LINE:COL: error|warning: MESSAGE [rule], with a help line when there is a clear fix. Exit status: 0 when there is no error (warnings allowed), 1 when any document has an error.

        Examples:
          tarmac validate examples/platform/platform.yaml
          tarmac validate --platform examples/platform/platform.yaml job.yaml
          tarmac validate -o json --platform platform.yaml jobs/
        """)

    @OptionGroup var platform: PlatformOption

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: String = "text"

    @Flag(name: .long, help: "Treat warnings as errors.")
    var strict = false

    @Argument(help: "Files or directories (.yaml, .yml, .json) holding platforms and workloads.")
    var files: [String]

    func run() throws {
        guard let format = OutputFormat(rawValue: output), format == .text || format == .json else {
            throw ValidationError("unknown output format '\(output)'; use text or json")
        }
        let report = Validation.run(platform: platform.path, paths: files)
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        default:
            for d in report.diagnostics { print(Terminal.render(d)) }
            let e = report.diagnostics.errors.count, w = report.diagnostics.warnings.count
            let summary = "\(report.documents) document\(report.documents == 1 ? "" : "s") in \(report.files) file\(report.files == 1 ? "" : "s"): "
                + "\(e) error\(e == 1 ? "" : "s"), \(w) warning\(w == 1 ? "" : "s")"
            Terminal.writeError(summary)
            if let note = report.note { Terminal.writeError("note: " + note) }
        }
        if report.diagnostics.hasErrors || (strict && !report.diagnostics.warnings.isEmpty) { throw ExitCode(1) }
    }
}

/// What `tarmac validate` found.
struct ValidationReport: Codable {
    var files: Int
    var documents: Int
    var diagnostics: [Diagnostic]
    var note: String?
    var ok: Bool { !diagnostics.hasErrors }
}

enum Validation {
    static func run(platform: String?, paths: [String]) -> ValidationReport {
        let (files, missing) = Inputs.expand(paths)
        var diagnostics = missing
        var documents = 0
        var contract: Contract?
        if let platform {
            let loaded = ContractLoader.load(platform)
            diagnostics += loaded.diagnostics
            contract = loaded.contract
            documents += 1
        }
        var note: String?
        for file in files {
            let read = DocumentReader.read(file: file)
            diagnostics += read.diagnostics
            documents += read.workloads.count
            for p in read.platformFiles where platform.map({ FilePaths.same($0, p) }) != true {
                let loaded = ContractLoader.load(p)
                diagnostics += loaded.diagnostics
                documents += 1
                if contract == nil && platform == nil { contract = loaded.contract }
            }
            for w in read.workloads {
                if let contract {
                    diagnostics += Kinds.validate(w, against: contract)
                } else if platform == nil {
                    note = "no platform given (--platform or TARMAC_PLATFORM): workloads were checked for structure only, not against sizes, teams or guardrails"
                }
            }
        }
        return ValidationReport(files: files.count, documents: documents, diagnostics: diagnostics.normalized(), note: note)
    }
}

enum FilePaths {
    static func same(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
    }
}
