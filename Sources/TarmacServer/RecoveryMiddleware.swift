import TarmacCore
import Hummingbird
import TarmacRuntime

/// While the control plane recovers its state (which may take a while: a cluster to read, pods to adopt), the API is
/// already served: requests wait here until recovery is done, instead of finding the port closed. The probes and
/// documents at the root answer at once (`/readyz` says whether recovery is done).
struct RecoveryMiddleware<Context: RequestContext>: RouterMiddleware {
    let recovered: ReadinessGate
    static var immediate: Set<String> { ["/healthz", "/readyz", "/metrics", "/openapi.yaml"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !recovered.isOpen, !Self.immediate.contains(request.uri.path) {
            await recovered.wait()
            guard recovered.isOpen else { throw APIError(.serviceUnavailable, code: "unavailable", "the server is shutting down") }
        }
        return try await next(request, context)
    }
}
