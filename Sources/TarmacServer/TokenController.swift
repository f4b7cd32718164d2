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
        guard p.role == .admin else { throw APIError(.forbidden, code: "forbidden", "only admins manage tokens") }
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

    /// Decodes a token request as strictly as documents are decoded: a field it does not know is an error (with the
    /// closest known field), not silently ignored, so a typo such as `tean` cannot create a token without its team.
    static func decodeStrictly(_ data: Data) throws -> TokenRequest {
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw APIError(.badRequest, code: "badRequest", "the body must be a JSON object, e.g. \(example)")
        }
        let known = ["name", "role", "team", "ttlSeconds"]
        let unknown = fields.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            let each = unknown.map { "unknown field '\($0)'" + Suggestions.hint(for: $0, in: known, noun: "fields") }
            throw APIError(.unprocessableContent, code: "invalid", each.joined(separator: "; "))
        }
        do {
            return try JSONDecoder().decode(TokenRequest.self, from: data)
        } catch {
            throw APIError(.unprocessableContent, code: "invalid", "role must be a string, name and team strings, ttlSeconds a number, e.g. \(example)")
        }
    }
}
