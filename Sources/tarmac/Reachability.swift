import Foundation
import NIOCore
import NIOPosix

/// Whether the server's port answers at all, found out in at most two seconds: the HTTP client alone keeps retrying a
/// refused connection until its request times out (a minute), which is no way to say "the server is down".
enum Reachability {
    static let connectTimeout: TimeAmount = .seconds(2)

    static func check(_ base: String) async throws {
        guard let url = URL(string: base), let host = url.host else {
            throw APIFailure(status: 0, code: "unreachable", message: "'\(base)' is not a server URL (expected e.g. http://127.0.0.1:8080)", diagnostics: [])
        }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(connectTimeout)
                .connect(host: host, port: port).get()
            try? await channel.close()
        } catch {
            throw APIFailure(status: 0, code: "unreachable", message: message(base, reason(error)), diagnostics: [])
        }
    }

    static func message(_ base: String, _ reason: String) -> String {
        "cannot reach the Tarmac server at \(base): \(reason). Is `tarmac up` running? Choose another server with --server, --context or TARMAC_SERVER."
    }

    /// A connection failure in a few words.
    static func reason(_ error: any Error) -> String {
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case EHOSTUNREACH, ENETUNREACH: return "no route to the host"
            case ETIMEDOUT: return "no answer"
            default: return String(cString: strerror(e.errnoCode)).lowercased()
            }
        }
        if let e = error as? ChannelError, case .connectTimeout = e { return "no answer within \(connectTimeout.nanoseconds / 1_000_000_000) s" }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return reason(first.error) }
            if e.dnsAError != nil || e.dnsAAAAError != nil { return "unknown host \(e.host)" }
        }
        let text = "\(error)"
        if text.contains("Connection refused") { return "connection refused" }
        return text
    }
}
