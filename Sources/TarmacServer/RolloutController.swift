import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// /v1/rollouts: start, read, promote, abort and roll back rollouts of InferenceServices. The rules are the runner's.
struct RolloutController {
    /// Nil where the server runs no inference gateway: every route says so.
    let runner: RolloutRunner?

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.post("rollouts", use: start)
        group.get("rollouts", use: list)
        group.get("rollouts/:service", use: get)
        group.post("rollouts/:service/promote", use: promote)
        group.post("rollouts/:service/abort", use: abort)
        group.post("rollouts/:service/rollback", use: rollback)
    }

    var rollouts: RolloutRunner {
        get throws {
            guard let runner else {
                throw APIError(.unprocessableContent, code: "invalid", "this server runs no inference gateway, which rollouts move traffic in: start it with tarmac up --inference-port PORT")
            }
            return runner
        }
    }

    static let fields = ["team", "service", "to", "strategy", "steps", "rules", "rollbackWindowSeconds", "previewSeconds"]

    @Sendable func start(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let data = Data(buffer: try await request.body.collect(upTo: ServerLimits.maxBody))
        let body = try StrictBody.decode(RolloutRequest.self, from: data, known: Self.fields,
                                         example: #"{"service": "ranker", "to": "1.1.0", "steps": ["10", "analysis 60s", "50", "analysis 60s"], "rules": [{"metric": "successRate", "threshold": 0.99}]}"#,
                                         types: "service, to, strategy and team must be strings, steps a list of strings, rules a list of {metric, threshold, minRequests}")
        let r = try rollouts
        let a = try await r.start(service: body.service, team: body.team, to: body.to, spec: try RolloutRunner.spec(body), by: p)
        return try JSON.response(await r.view(a), status: .created, headers: [.location: "/v1/rollouts/\(a.service)?team=\(a.team)"])
    }

    @Sendable func list(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let r = try rollouts
        var items: [RolloutView] = []
        for a in await r.list(by: p) { items.append(await r.view(a)) }
        return try JSON.response(RolloutList(items: items))
    }

    @Sendable func get(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let r = try rollouts
        let a = try await r.status(service: try context.parameters.require("service"), team: request.uri.queryParameters.get("team"), by: p)
        return try JSON.response(await r.view(a))
    }

    @Sendable func promote(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        try await act(request, context) { r, s, t, p in try await r.promote(service: s, team: t, by: p) }
    }

    @Sendable func abort(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        try await act(request, context) { r, s, t, p in try await r.abort(service: s, team: t, by: p) }
    }

    @Sendable func rollback(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        try await act(request, context) { r, s, t, p in try await r.rollback(service: s, team: t, by: p) }
    }

    func act(_ request: Request, _ context: TarmacRequestContext,
             _ body: (RolloutRunner, String, String?, Principal) async throws -> RolloutRunner.Active) async throws -> Response {
        let p = try context.caller()
        let r = try rollouts
        let a = try await body(r, try context.parameters.require("service"), request.uri.queryParameters.get("team"), p)
        return try JSON.response(await r.view(a))
    }
}
