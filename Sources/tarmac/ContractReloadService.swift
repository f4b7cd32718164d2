import TarmacCore
import Logging
import ServiceLifecycle
import TarmacContract
import TarmacRuntime
import UnixSignals

/// On SIGHUP, loads the platform contract again: with no error it is put in force; with errors the running contract
/// stays and every problem is logged (file:line:col), so a broken edit never takes the control plane down.
struct ContractReloadService: Service {
    let path: String
    let controlPlane: ControlPlane
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals { await reload() }
        }
    }

    func reload() async {
        let loaded = ContractLoader.load(path)
        for d in loaded.diagnostics {
            logger.log(level: d.severity == .error ? .error : .warning, "\(d.description)")
        }
        guard let contract = loaded.contract, !loaded.diagnostics.hasErrors else {
            logger.error("the platform contract has errors; the running one stays in force", metadata: ["path": "\(path)", "errors": "\(loaded.diagnostics.errors.count)"])
            return
        }
        do {
            try await controlPlane.reload(contract)
            logger.notice("platform contract reloaded", metadata: ["path": "\(path)"])
        } catch {
            logger.error("the platform contract was not reloaded: \(error)")
        }
    }
}
