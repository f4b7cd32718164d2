import Foundation
import Logging
import ServiceLifecycle
import TarmacKubernetes

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the Lease while this replica leads. When a renewal fails past the renew deadline (or another replica holds
/// the Lease), the process exits at once (`_exit`) with status 75, as Kubernetes' controllers do: a deposed leader must stop
/// everything it does, and its fenced store refuses what it still tries to write meanwhile. On a graceful shutdown it
/// gives the Lease up, so that a follower leads at once instead of after the lease duration.
struct LeadershipService: Service {
    let elector: LeaseElector
    let logger: Logger
    static let exitStatus: Int32 = 75

    func run() async throws {
        let why: String
        do {
            why = try await cancelWhenGracefulShutdown { try await elector.holdUntilLost() }
        } catch is CancellationError {
            await elector.release()
            logger.notice("gave the Lease up (shutting down)")
            return
        }
        logger.critical("stopped leading: \(why); exiting")
        FileHandle.standardError.write(Data("tarmac: stopped leading: \(why); exiting (status \(Self.exitStatus))\n".utf8))
        // At once, running nothing on the way out (no atexit handler, no graceful shutdown that might still write).
        _exit(Self.exitStatus)
    }
}
