import Foundation
import Hummingbird
import Logging
import NIOCore

/// What a replica serves while another one leads: `/healthz` answers (the process is alive: no restart), `/readyz`
/// and everything else answer 503 with the reason and `Retry-After`, so that a Service sends clients to the leader only.
public func buildStandbyApplication(host: String, port: Int, reason: @escaping @Sendable () async -> String, logger: Logger) -> some ApplicationProtocol {
    let responder = CallbackResponder<BasicRequestContext> { request, context in
        if request.uri.path == "/healthz" { return JSON.text("ok\n") }
        let why = await reason()
        if request.uri.path == "/readyz" { return JSON.text("standby: \(why)\n", status: .serviceUnavailable) }
        return try APIError(.serviceUnavailable, code: "standby", "this replica is on standby: \(why); try again", headers: [.retryAfter: "2"])
            .response(from: request, context: context)
    }
    return Application(responder: responder, configuration: .init(address: .hostname(host, port: port), serverName: "tarmac"), logger: logger)
}
