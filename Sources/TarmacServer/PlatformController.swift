import TarmacCore
import Foundation
import Hummingbird
import TarmacAPI
import TarmacContract
import TarmacPlanning
import TarmacModel
import TarmacRuntime

/// /v1/platform and /v1/sizes: what the contract offers, for the caller's team and an environment.
struct PlatformController {
    let controlPlane: ControlPlane

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("platform", use: platform)
        group.get("sizes", use: sizes)
        group.get("clusters", use: clusters)
    }

    /// The platform's clusters: reachable, nodes, GPUs by pool, what was dispatched, refused and failed over, drift.
    /// Empty when the server drives one cluster or this machine.
    @Sendable func clusters(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        _ = try context.caller()
        return try JSON.response(ClusterList(items: await controlPlane.clusters() ?? []))
    }

    @Sendable func platform(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        _ = try context.caller()
        let p = controlPlane.contract.platform
        return try JSON.response(PlatformView(name: p.name, environments: p.environments.keys.sorted(), teams: p.teams.keys.sorted(),
                                              accelerators: p.accelerators.keys.sorted(), pools: p.pools.keys.sorted(),
                                              priorities: p.priorities, nodes: await controlPlane.inventory()))
    }

    @Sendable func sizes(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let principal = try context.caller()
        let q = request.uri.queryParameters
        let base = controlPlane.contract.platform
        let env = q.get("env")
        let team = q.get("team") ?? principal.team
        if let env, base.environments[env] == nil {
            throw APIError(.badRequest, code: "badRequest", "unknown environment '\(env)'\(Suggestions.closest(to: env, in: base.environments.keys).map { "; did you mean '\($0)'?" } ?? "")")
        }
        if let team, base.teams[team] == nil {
            throw APIError(.badRequest, code: "badRequest", "unknown team '\(team)'\(Suggestions.closest(to: team, in: base.teams.keys).map { "; did you mean '\($0)'?" } ?? "")")
        }
        let items = await controlPlane.sizes(team: team, env: env)
        return try JSON.response(SizeList(items: items))
    }
}
