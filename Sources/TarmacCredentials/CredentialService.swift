import TarmacCore
import Foundation
import Logging
import ServiceLifecycle

/// The credential controller as a service of `tarmac up`: it follows the transition stream (credentials end with their
/// attempt; grants are requested at submit and end with the agent) and rotates signing keys on the contract's schedule.
public struct CredentialService: Service {
    let authority: CredentialAuthority
    let stream: AsyncStream<Transition>
    let logger: Logger

    /// Subscribes at once, so no transition after this point is missed.
    public init(_ authority: CredentialAuthority, transitions: TransitionStream, logger: Logger) {
        self.authority = authority
        self.stream = transitions.subscribe()
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await t in stream { await authority.handle(t) }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            try await authority.rotateIfDue()
                            try await authority.pruneKeys()
                        } catch {
                            logger.error("key rotation failed", metadata: ["error": "\(error)"])
                        }
                        try? await Task.sleep(for: .seconds(30))
                    }
                }
            }
        }
    }
}
