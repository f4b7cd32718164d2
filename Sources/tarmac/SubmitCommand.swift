import TarmacCore
import ArgumentParser
import Foundation
import TarmacAPI
import TarmacContract
import TarmacWorkdir

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit workloads to the Tarmac server.",
        discussion: """
        The server validates the document exactly as `tarmac validate` does (every problem at once, with file:line:col) and queues it. Each submit carries a request id (--request-id, else a new UUID): sending the same id again returns the workload already created instead of a second one, so retrying is always safe.

        Exit status: 0 accepted (with --wait: succeeded); 1 refused (invalid, conflict) or, with --wait, failed; 2 usage (no such file, bad option); 3 not found; 4 not authenticated or not allowed; 5 server unreachable or server error; 6 cancelled (--wait).

        Examples:
          tarmac submit examples/workloads/train-cpu.yaml
          tarmac submit --wait examples/workloads/train-cpu.yaml
          tarmac submit -o json --request-id build-4711 job.yaml
          # a file with several documents, or a directory: each is submitted
          tarmac submit examples/workloads/echo-cpu.yaml
          tarmac submit examples/workloads
          # run job.yaml's command in a copy of this directory:
          tarmac submit --workdir . --wait job.yaml
        """)

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "Idempotency key: the same key never creates a second workload.")
    var requestId: String?

    @Option(name: .long, help: ArgumentHelp("A directory of code to run the workload in (overrides spec.workdir).",
                                             discussion: "It is packed (.gitignore and .tarmacignore honoured, .git left out, at most 64 MiB), uploaded once per content (an unchanged directory is not sent again) and each pod starts in a copy of it."))
    var workdir: String?

    @Flag(name: .long, help: "Wait until the workload ends, showing its progress; the exit status tells how it ended.")
    var wait = false

    @Argument(help: "Workload documents: files (several documents in one separated by `---`; YAML or JSON), directories (every .yaml, .yml and .json file in them, as `tarmac validate` reads them), or '-' for standard input.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name what to submit: a workload file, a directory of them, or - for standard input") }
        if files.contains("-") && files.count > 1 { throw ValidationError("'-' (standard input) cannot be combined with files") }
    }

    /// One document of one of the inputs.
    struct Input {
        var file: String
        var document: YAMLDocuments.Document
    }

    /// Every document of every file named (directories expanded, as `tarmac validate` does).
    func inputs() throws -> [Input] {
        if files == ["-"] {
            let docs = YAMLDocuments.split(String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self))
            guard !docs.isEmpty else { throw ValidationError("standard input holds no document") }
            return docs.map { Input(file: "-", document: $0) }
        }
        let (expanded, missing) = Inputs.expand(files)
        if let m = missing.first { throw ValidationError(m.message) }
        guard !expanded.isEmpty else { throw ValidationError("\(files.joined(separator: ", ")) holds no .yaml, .yml or .json file") }
        var out: [Input] = []
        for file in expanded {
            guard let d = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let docs = YAMLDocuments.split(String(decoding: d, as: UTF8.self))
            guard !docs.isEmpty else { throw ValidationError("\(file) holds no document") }
            out += docs.map { Input(file: file, document: $0) }
        }
        return out
    }

    func run() async throws {
        try await runClient {
            let documents = try inputs()
            let c = try client.client()
            let rid = requestId ?? UUID().uuidString.lowercased()
            var submitted: [WorkloadView] = []
            var bodies: [Data] = []
            var failures: [APIFailure] = []
            let several = Set(documents.map(\.file)).count > 1
            for (i, input) in documents.enumerated() {
                let doc = input.document, file = input.file
                // One request id per document: resubmitting the file creates nothing twice.
                let key = documents.count == 1 ? rid : "\(rid)#\(i + 1)"
                do {
                    let digest = try await uploadWorkdir(c, for: doc.text, file: file)
                    let (status, body) = try await submitRenamingDiagnostics(c, text: doc.text, file: file, firstLine: doc.firstLine, requestID: key, workdir: digest)
                    let w = try ServerClient.decode(WorkloadView.self, body)
                    submitted.append(w)
                    bodies.append(body)
                    if client.output.format == .text {
                        print("\(w.kind) \(w.name) \(status == 201 ? "submitted" : "already submitted (same request id)"): id \(w.id), team \(w.team), \(w.state)")
                        Terminal.flush()
                    }
                    // Warnings are printed as `tarmac validate` prints them (to standard error, whatever the output format).
                    for d in w.warnings ?? [] { Terminal.writeError(rename(d.text, file: file, firstLine: doc.firstLine)) }
                } catch let f as APIFailure where documents.count > 1 && f.status != 0 {
                    let which = several ? "\(file) (line \(doc.firstLine))" : "document \(i + 1) (line \(doc.firstLine))"
                    // The diagnostics say it with file:line:col; the summary line says it only when there are none.
                    Terminal.writeError(Terminal.paint("error", "31;1") + ": \(which): " + (f.diagnostics.isEmpty ? f.message : "refused"))
                    for d in f.diagnostics { Terminal.writeError(d) }
                    failures.append(f)
                }
            }
            if client.output.format != .text {
                let items = bodies.map { try? JSONSerialization.jsonObject(with: $0) }.compactMap { $0 }
                let all = documents.count == 1 ? items.first ?? [:] : ["items": items]
                try printStructured(try JSONSerialization.data(withJSONObject: all), client.output.format)
            }
            if documents.count > 1 && client.output.format == .text {
                print("\(submitted.count) of \(documents.count) workloads submitted\(failures.isEmpty ? "" : "; \(failures.count) refused")")
            }
            if wait {
                var worst: Int32 = 0
                for w in submitted {
                    do { try await WaitLoop.run(c, id: w.id, quiet: client.output.format != .text) } catch let e as ExitCode {
                        worst = max(worst, e.rawValue)
                    }
                }
                if worst != 0 { throw ExitCode(worst) }
            }
            if let f = failures.first { throw ExitCode(f.exitCode) }
        }
    }

    /// The server names the document `request`: diagnostics point into the user's file instead, at the right line.
    func rename(_ text: String, file: String, firstLine: Int) -> String {
        guard text.hasPrefix("request:") else { return text }
        let rest = text.dropFirst("request:".count)
        let name = file == "-" ? "<stdin>" : file
        guard let colon = rest.firstIndex(of: ":"), let line = Int(rest[..<colon]) else { return name + ":" + rest }
        return "\(name):\(line + firstLine - 1)" + rest[colon...]
    }

    /// Packs and uploads the document's working directory (--workdir, else spec.workdir relative to the file), unless the
    /// server has that content already. Returns its digest, or nil when there is none.
    func uploadWorkdir(_ c: ServerClient, for text: String, file: String) async throws -> String? {
        let base = file == "-" ? FileManager.default.currentDirectoryPath : (URL(fileURLWithPath: file).deletingLastPathComponent().path)
        let named = workdir ?? DocumentReader.read(text: text, file: file).workloads.first?.workdir
        guard let named else { return nil }
        let dir = named.hasPrefix("/") ? named : (workdir != nil ? named : base + "/" + named)
        let packed: PackedWorkdir
        do { packed = try WorkdirPacker.pack(dir) } catch { throw ValidationError("\(error)") }
        let short = String(packed.digest.prefix(19))
        let size = packed.bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(packed.bytes) / 1_048_576) : String(format: "%.1f KiB", Double(packed.bytes) / 1024)
        let resp = try await c.request(.HEAD, "/v1/workdirs/\(packed.digest)")
        if resp.status.code == 200 {
            Terminal.writeError("workdir \(named): \(packed.files) file\(packed.files == 1 ? "" : "s"), \(size), \(short)…: unchanged, not sent")
        } else {
            _ = try await c.call(.PUT, "/v1/workdirs/\(packed.digest)", body: packed.archive, contentType: "application/octet-stream")
            Terminal.writeError("workdir \(named): \(packed.files) file\(packed.files == 1 ? "" : "s"), \(size), \(short)…: sent")
        }
        if !packed.skipped.isEmpty {
            Terminal.writeError("workdir \(named): left out \(packed.skipped.count) link\(packed.skipped.count == 1 ? "" : "s") or special file\(packed.skipped.count == 1 ? "" : "s") (\(packed.skipped.prefix(3).joined(separator: ", "))\(packed.skipped.count > 3 ? ", ..." : ""))")
        }
        return packed.digest
    }

    func submitRenamingDiagnostics(_ c: ServerClient, text: String, file: String, firstLine: Int, requestID: String, workdir: String?) async throws -> (Int, Data) {
        do {
            var headers = [("Idempotency-Key", requestID)]
            if let workdir { headers.append(("Tarmac-Workdir", workdir)) }
            return try await c.call(.POST, "/v1/workloads", body: Data(text.utf8), contentType: "application/yaml", headers: headers)
        } catch var f as APIFailure {
            f.diagnostics = f.diagnostics.map { rename($0, file: file, firstLine: firstLine) }
            throw f
        }
    }
}

/// The documents of a YAML stream, each with the line it starts on (separated by `---` lines).
enum YAMLDocuments {
    struct Document {
        var text: String
        var firstLine: Int
    }

    static func split(_ text: String) -> [Document] {
        var docs: [Document] = []
        var current: [Substring] = []
        var start = 1
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        func flush() {
            let body = current.joined(separator: "\n")
            let meaningful = current.contains { l in
                let t = l.trimmingCharacters(in: .whitespaces)
                return !t.isEmpty && !t.hasPrefix("#")
            }
            if meaningful { docs.append(Document(text: body + "\n", firstLine: start)) }
        }
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t == "---" || t.hasPrefix("--- ") || t.hasPrefix("---#") {
                flush()
                current = []
                start = i + 2
            } else {
                current.append(line)
            }
        }
        flush()
        return docs
    }
}

/// Polls a workload until it ends, printing each change of state (and, on a terminal, a spinner with the elapsed time).
enum WaitLoop {
    static func run(_ c: ServerClient, id: String, quiet: Bool) async throws {
        let clock = SystemClock(), start = clock.elapsed
        var last = ""
        let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        var tick = 0
        let tty = Terminal.colour
        while true {
            let w = try await c.get("/v1/workloads/\(ServerClient.path(id))", as: WorkloadView.self)
            // While it waits, why it waits: printed when it first waits and whenever the reason changes.
            var message = w.message
            if w.state == "queued", let why = try? await c.get("/v1/workloads/\(ServerClient.path(id))/why", as: WhyView.self) {
                message = why.message
            }
            let line = "\(w.state)\(message.map { ": \($0)" } ?? "")"
            if line != last {
                if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                // A message that only repeats the state (`cancelled — cancelled`) is left out.
                let said = message.flatMap { $0 == w.state || $0 == w.stateText ? nil : $0 }
                if !quiet { Terminal.writeError("\(String(format: "%6.1fs", clock.since(start).seconds)) \(w.name): \(w.stateText)\(said.map { " — \($0)" } ?? "")") }
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
                FileHandle.standardError.write(Data("\r\(spinner[tick % spinner.count]) \(w.state) \(Int(clock.since(start).seconds))s".utf8))
                tick += 1
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
