import ArgumentParser
import Foundation
import TarmacAPI

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a workload to the Tarmac server.",
        discussion: """
        The server validates the document exactly as `tarmac validate` does (every problem at once, with file:line:col) and queues it. Each submit carries a request id (--request-id, else a new UUID): sending the same id again returns the workload already created instead of a second one, so retrying is always safe.

        Exit status: 0 accepted (with --wait: succeeded); 1 refused (invalid, conflict) or, with --wait, failed; 3 not found; 4 not authenticated or not allowed; 5 server unreachable; 6 cancelled (--wait).

        Examples:
          tarmac submit examples/workloads/train-cpu.yaml
          tarmac submit --wait examples/workloads/train-cpu.yaml
          tarmac submit -o json --request-id build-4711 job.yaml
        """)

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "Idempotency key: the same key never creates a second workload.")
    var requestId: String?

    @Flag(name: .long, help: "Wait until the workload ends, showing its progress; the exit status tells how it ended.")
    var wait = false

    @Argument(help: "The workload document (YAML or JSON; '-' for standard input).")
    var file: String

    func run() async throws {
        try await runClient {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                data = d
            }
            let text = String(decoding: data, as: UTF8.self)
            let c = try client.client()
            let rid = requestId ?? UUID().uuidString.lowercased()
            // The file name replaces the server's placeholder in diagnostics, so they point into the user's file.
            let (status, body) = try await submitRenamingDiagnostics(c, text: text, requestID: rid)
            let w = try ServerClient.decode(WorkloadView.self, body)
            switch client.output.format {
            case .text:
                print("\(w.kind) \(w.name) \(status == 201 ? "submitted" : "already submitted (same request id)"): id \(w.id), team \(w.team), \(w.state)")
            default:
                try printStructured(body, client.output.format)
            }
            if wait { try await WaitLoop.run(c, id: w.id, quiet: client.output.format != .text) }
        }
    }

    func submitRenamingDiagnostics(_ c: ServerClient, text: String, requestID: String) async throws -> (Int, Data) {
        do {
            return try await c.call(.POST, "/v1/workloads", body: Data(text.utf8), contentType: "application/yaml", headers: [("Idempotency-Key", requestID)])
        } catch var f as APIFailure {
            if file != "-" { f.diagnostics = f.diagnostics.map { $0.hasPrefix("request:") ? file + $0.dropFirst("request".count) : $0 } }
            throw f
        }
    }
}

/// Polls a workload until it ends, printing each change of state (and, on a terminal, a spinner with the elapsed time).
enum WaitLoop {
    static func run(_ c: ServerClient, id: String, quiet: Bool) async throws {
        let start = Date()
        var last = ""
        let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        var tick = 0
        let tty = Terminal.colour
        while true {
            let w = try await c.get("/v1/workloads/\(ServerClient.path(id))", as: WorkloadView.self)
            let line = "\(w.state)\(w.message.map { ": \($0)" } ?? "")"
            if line != last {
                if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                if !quiet { Terminal.writeError("\(String(format: "%6.1fs", Date().timeIntervalSince(start))) \(w.name): \(w.stateText)\(w.message.map { " — \($0)" } ?? "")") }
                last = line
            }
            if w.isTerminal {
                switch w.state {
                case "succeeded": return
                case "cancelled": throw ExitCode(Exit.cancelled)
                default: throw ExitCode(Exit.refused)
                }
            }
            if tty && !quiet {
                FileHandle.standardError.write(Data("\r\(spinner[tick % spinner.count]) \(w.state) \(Int(Date().timeIntervalSince(start)))s".utf8))
                tick += 1
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
