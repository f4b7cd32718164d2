import ArgumentParser
import Foundation
import TarmacContract
import TarmacKinds
import TarmacManifests
import TarmacModel

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Write the platform and workloads as Kubernetes manifests, for GitOps.",
        discussion: """
        Everything is validated first; if anything has an error, nothing is written. Output is deterministic (same input, same bytes): one object per file at DIR/<namespace>/<kind>-<name>.yaml, cluster-scoped objects under DIR/_cluster/. A directory written before by tarmac render is replaced as a whole, so removed objects disappear from the GitOps diff too.

        Examples:
          export TARMAC_PLATFORM=examples/platform/platform.yaml
          tarmac render --out out examples/workloads
          tarmac render --env prod --stdout
          tarmac render --kueue --out out
        """)

    static let marker = ".tarmac-render"

    @OptionGroup var platform: PlatformOption

    @Option(name: .long, help: "Render only this environment's namespaces and workloads.")
    var env: String?

    @Option(name: .long, help: "Directory to write the manifests into.")
    var out: String?

    @Flag(name: .long, help: "Write one YAML stream to standard output instead of files.")
    var stdout = false

    @Flag(name: .long, help: "Also render Kueue ResourceFlavors, ClusterQueues, LocalQueues and WorkloadPriorityClasses.")
    var kueue = false

    @Argument(help: "Workload files or directories.")
    var files: [String] = []

    func validate() throws {
        if (out == nil) == !stdout { throw ValidationError("give exactly one of --out DIR and --stdout") }
    }

    func run() throws {
        let path = try platform.required()
        let loaded = ContractLoader.load(path)
        var diagnostics = loaded.diagnostics
        let (inputs, missing) = Inputs.expand(files)
        diagnostics += missing
        var workloads: [Workload] = []
        // Files are read and checked on every core; results are merged in input order.
        let contractOrNil = loaded.contract
        for (read, checked) in inputs.parallelMap(minimumCount: 2, { file -> (DocumentReader.Result, [Diagnostic]) in
            let read = DocumentReader.read(file: file)
            return (read, contractOrNil.map { c in read.workloads.flatMap { Kinds.validate($0, against: c) } } ?? [])
        }) {
            diagnostics += read.diagnostics + checked
            workloads += read.workloads
        }
        if let env, let contract = loaded.contract, contract.platform.environments[env] == nil {
            diagnostics.append(.error(at: nil, "unknown environment '\(env)'" + Suggestions.hint(for: env, in: contract.platform.environments.keys, noun: "environments"), rule: "unknown-reference"))
        }
        guard let contract = loaded.contract, !diagnostics.hasErrors else {
            report(diagnostics.normalized())
            Terminal.writeError("nothing written: fix the errors above")
            throw ExitCode(1)
        }
        let output = Rendering.render(contract: contract, workloads: workloads, env: env, options: RenderOptions(kueue: kueue))
        diagnostics += output.diagnostics
        report(diagnostics.normalized().filter { $0.severity == .error || $0.severity == .warning })
        if output.diagnostics.hasErrors { Terminal.writeError("nothing written: fix the errors above"); throw ExitCode(1) }

        if stdout {
            print(output.objects.parallelMap { YAMLWriter.document($0.value) }.joined(separator: "---\n"), terminator: "")
            return
        }
        try write(output.objects, to: out!)
        let namespaces = Set(output.objects.compactMap(\.namespace)).count
        Terminal.writeError("wrote \(output.objects.count) objects in \(namespaces) namespaces to \(out!)")
    }

    private func report(_ diagnostics: [Diagnostic]) {
        for d in diagnostics { Terminal.writeError(Terminal.render(d)) }
    }

    /// Writes into a fresh sibling directory, then swaps it in, so a failure never leaves a half-written tree.
    private func write(_ objects: [KubeObject], to dir: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: dir, isDirectory: &isDir)
        if exists {
            guard isDir.boolValue else { throw ValidationError("'\(dir)' exists and is not a directory") }
            let contents = try fm.contentsOfDirectory(atPath: dir)
            if !contents.isEmpty && !contents.contains(Self.marker) {
                throw ValidationError("'\(dir)' is not empty and was not written by tarmac render; choose another directory")
            }
        }
        let url = URL(fileURLWithPath: dir).standardizedFileURL
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tarmac-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            let texts = objects.parallelMap(\.yaml)
            for (o, text) in zip(objects, texts) {
                let file = staging.appendingPathComponent(o.relativePath)
                try fm.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: file)
            }
            try Data("Written by tarmac render; this directory is replaced as a whole on the next render.\n".utf8)
                .write(to: staging.appendingPathComponent(Self.marker))
            if exists { try fm.removeItem(at: url) }
            try fm.moveItem(at: staging, to: url)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }
}
