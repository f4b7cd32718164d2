import TarmacCore
import Foundation
import Hummingbird
import TarmacRuntime

/// Checks the bearer token of every API call (a workload credential is passed on, for the one route that takes it): no valid token, 401; over the token's rate, 429 with Retry-After.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = TarmacRequestContext
    let tokens: Tokens
    let limiter: RateLimiter<ContinuousClock>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"tarmac\""]
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, code: "unauthenticated", "a bearer token is required (Authorization: Bearer tmc_...); an admin can create one with `tarmac token create`", headers: challenge)
        }
        let secret = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        // A workload's own credential (TARMAC_CHECKPOINT_TOKEN): no person behind it; only its checkpoint route takes it.
        if secret.hasPrefix("tck_") {
            if let wait = limiter.take("workload:" + String(secret.suffix(16))) {
                throw APIError(.tooManyRequests, code: "rateLimited", "too many requests for this credential; retry in \(Int(wait.rounded(.up)))s",
                               headers: [.retryAfter: String(Int(wait.rounded(.up)))])
            }
            var ctx = context
            ctx.workloadCredential = secret
            return try await next(request, ctx)
        }
        guard let principal = try await tokens.authenticate(secret) else {
            throw APIError(.unauthorized, code: "unauthenticated", "the token is unknown, revoked or expired", headers: challenge)
        }
        if let wait = limiter.take(principal.tokenID) {
            throw APIError(.tooManyRequests, code: "rateLimited", "too many requests for this token; retry in \(Int(wait.rounded(.up)))s",
                           headers: [.retryAfter: String(Int(wait.rounded(.up)))])
        }
        var ctx = context
        ctx.principal = principal
        ctx.tokenHash = APIToken.hashOf(secret)
        context.logger.debug("authenticated", metadata: ["actor": "\(principal.actor)", "role": "\(principal.role.rawValue)"])
        return try await next(request, ctx)
    }
}
