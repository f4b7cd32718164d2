import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TarmacModel

/// The gateway's own credentials for its upstreams, by the name a tool's `upstreamCredential` gives. Locally they are
/// environment variables of `tarmac up`; on Kubernetes, keys of the Secret `tarmac-system/tarmac-gateway`, read at start
/// and again every `refresh` (a rotated credential is used from the next read on). Calls read the kept copy, never the
/// API server. Values are never logged.
public final class UpstreamCredentials: Service, Sendable {
    public enum Source: Sendable {
        case environment
        /// Reads every credential at once; `place` names where they live, for messages.
        case secret(place: String, read: @Sendable () async throws -> [String: String])
    }

    let source: Source
    let refresh: Duration
    let logger: Logger
    private let kept = Mutex<[String: String]>([:])
    private let readError = Mutex<String?>(nil)

    public init(source: Source, refresh: Duration = .seconds(30), logger: Logger) {
        self.source = source
        self.refresh = refresh
        self.logger = logger
    }

    /// Reads the Secret once (nothing to do for the environment).
    public func load() async {
        guard case .secret(let place, let read) = source else { return }
        do {
            let values = try await read()
            kept.withLock { $0 = values }
            readError.withLock { $0 = nil }
        } catch {
            // The last values read stay in use.
            readError.withLock { $0 = "\(error)" }
            logger.warning("could not read the gateway's credentials", metadata: ["from": "\(place)", "error": "\(error)"])
        }
    }

    /// Until the graceful shutdown (a service that returned early would stop `tarmac up`): reads the Secret again
    /// every `refresh`.
    public func run() async throws {
        guard case .secret = source else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: self.refresh) } catch { return }
                await self.load()
            }
        }
    }

    /// The credential of `tool` (nil: it has none), or why it is missing.
    public func value(for tool: Tool) -> Result<String?, MissingCredential> {
        guard let name = tool.upstreamCredential else { return .success(nil) }
        switch source {
        case .environment:
            guard let v = getenv(name) else { return .failure(MissingCredential(description: "the gateway has no credential for '\(tool.name)': \(name) is not set in tarmac up's environment")) }
            return .success(String(cString: v))
        case .secret(let place, _):
            if let v = kept.withLock({ $0[name] }) { return .success(v) }
            let why = readError.withLock { $0 }.map { " (the Secret could not be read: \($0))" } ?? ""
            return .failure(MissingCredential(description: "the gateway has no credential for '\(tool.name)': key \(name) is missing from Secret \(place)\(why)"))
        }
    }
}

public struct MissingCredential: Error, Sendable, CustomStringConvertible {
    public var description: String
}
