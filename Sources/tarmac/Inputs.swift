import ArgumentParser
import Foundation
import TarmacContract
import TarmacModel

/// Expands command-line paths: a directory stands for every .yaml, .yml and .json file under it, sorted.
enum Inputs {
    static func expand(_ paths: [String]) -> (files: [String], diagnostics: [Diagnostic]) {
        var files: [String] = []
        var diagnostics: [Diagnostic] = []
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
                diagnostics.append(.error(at: nil, "no such file or directory '\(path)'", rule: "file"))
                continue
            }
            if isDir.boolValue {
                let found = (fm.enumerator(atPath: path)?.allObjects as? [String] ?? [])
                    .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }
                    .sorted()
                    .map { (path.hasSuffix("/") ? path : path + "/") + $0 }
                files += found
            } else {
                files.append(path)
            }
        }
        return (files, diagnostics)
    }

    /// The platform named by --platform, else TARMAC_PLATFORM.
    static func platformPath(_ option: String?) -> String? {
        if let option { return option }
        guard let env = ProcessInfo.processInfo.environment["TARMAC_PLATFORM"], !env.isEmpty else { return nil }
        return env
    }
}

/// `--platform FILE`, shared by every command that reads a contract.
struct PlatformOption: ParsableArguments {
    @Option(name: .long, help: "Platform contract (default: $TARMAC_PLATFORM).")
    var platform: String?

    /// The path given, or $TARMAC_PLATFORM.
    var path: String? { Inputs.platformPath(platform) }

    func required() throws -> String {
        guard let path else { throw ValidationError("name the platform with --platform FILE (or set TARMAC_PLATFORM)") }
        return path
    }

    /// The contract at `path`, its diagnostics written to standard error; with errors, exit 1 saying `nothing` ("nothing
    /// was applied").
    static func load(_ path: String, nothing: String) throws -> Contract {
        let loaded = ContractLoader.load(path)
        for d in loaded.diagnostics { Terminal.writeError(Terminal.render(d)) }
        guard let contract = loaded.contract, !loaded.diagnostics.hasErrors else {
            Terminal.writeError("the platform contract has errors; \(nothing)")
            throw ExitCode(1)
        }
        return contract
    }
}
