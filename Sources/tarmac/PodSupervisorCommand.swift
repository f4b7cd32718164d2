import ArgumentParser
import TarmacLocal

/// Internal: supervises one pod of the local backend (started by `tarmac up`, not by people).
struct PodSupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod-supervisor", abstract: "Supervise one local pod (internal).", shouldDisplay: false)

    @Argument(help: "The pod's directory.") var directory: String

    func run() async throws {
        let code = await PodSupervisor.run(directory: directory)
        if code != 0 { throw ExitCode(code) }
    }
}
