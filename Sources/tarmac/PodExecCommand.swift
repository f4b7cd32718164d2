import ArgumentParser
import Foundation
import TarmacLocal

/// Internal: confines a local pod and executes its command in its place (started by a pod's supervisor, not by people).
/// Synchronous on purpose: the sandbox belongs to the thread that executes the command.
struct PodExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod-exec", abstract: "Confine a local pod and run its command (internal).", shouldDisplay: false)

    @Flag(help: "Print what isolation this machine allows, as JSON, and exit.") var probe = false
    @Argument(help: "The pod's sandbox.json.") var sandbox: String?
    @Argument(parsing: .postTerminator, help: "The pod's command.") var command: [String] = []

    func run() throws {
        if probe {
            let data = try JSONEncoder().encode(PodExec.probe())
            FileHandle.standardOutput.write(data)
            return
        }
        guard let sandbox else { throw ValidationError("name the pod's sandbox.json") }
        throw ExitCode(PodExec.run(sandbox: sandbox, command: command))
    }
}
