import TarmacCore
import Foundation
import TarmacModel
import Hummingbird
import TarmacAPI
import TarmacContract
import TarmacRuntime

/// /v1/tokens (admins) and /v1/whoami (anyone with a token).
struct TokenController {
    let tokens: Tokens

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("whoami", use: whoami)
        group.get("tokens", use: list)
        group.post("tokens", use: create)
        group.delete("tokens/:id", use: revoke)
    }

    func admin(_ context: TarmacRequestContext) throws -> Principal {
        let p = try context.caller()
        try Access.require(p, .manageTokens)
        return p
    }

    @Sendable func whoami(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        return try JSON.response(WhoAmI(name: p.name, role: p.role.rawValue, team: p.team, tokenID: p.tokenID))
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        _ = try admin(context)
        return try JSON.response(TokenList(items: try await tokens.list().map { TokenView($0) }))
    }

    @Sendable func create(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try admin(context)
        let body = try await request.body.collect(upTo: 64 << 10)
        let req = try TokenRequest.decodeStrictly(Data(buffer: body))
        guard let role = Role(rawValue: req.role) else {
            throw APIError(.unprocessableContent, code: "invalid", "unknown role '\(req.role)'; use admin, member or viewer")
        }
        let (t, secret) = try await tokens.create(name: req.name ?? "\(role.rawValue)\(req.team.map { "-\($0)" } ?? "")", role: role, team: req.team,
                                                  ttl: req.ttlSeconds, by: p.actor)
        return try JSON.response(TokenView(t, secret: secret), status: .created)
    }

    @Sendable func revoke(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try admin(context)
        try await tokens.revoke(id: try context.parameters.require("id"), by: p.actor)
        return Response(status: .noContent)
    }
}

extension TokenRequest {
    static let example = "{\"role\": \"member\", \"team\": \"search\", \"name\": \"ci\", \"ttlSeconds\": 86400}"

    /// Decoded strictly (`StrictBody`): a typo such as `tean` cannot create a token without its team.
    static func decodeStrictly(_ data: Data) throws -> TokenRequest {
        try StrictBody.decode(TokenRequest.self, from: data, known: ["name", "role", "team", "ttlSeconds"], example: example,
                              types: "role must be a string, name and team strings, ttlSeconds a number")
    }
}
