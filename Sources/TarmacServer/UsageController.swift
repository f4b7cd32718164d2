import Foundation
import Hummingbird
import NIOCore
import Logging
import TarmacAPI
import TarmacCore
import TarmacMetering
import TarmacModel
import TarmacRuntime

/// /v1/usage: the metering ledger, summed by the dimensions asked for and priced at the contract's rates. The ledger is
/// brought up to the last stored transition first, so an answer counts everything that happened before it.
struct UsageController {
    let controlPlane: ControlPlane

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("usage", use: report)
        group.get("allocation", use: allocation)
        group.get("inferenceCost/total", use: inferenceCost)
    }

    /// What inference served over a window (`window` as for allocation; `aggregate`: service, team, model or workload),
    /// with its cost at the contract's rates and the cost per thousand tokens.
    @Sendable func inferenceCost(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        let now = controlPlane.clock.now
        let window = try Self.window(q.get("window"), now: now)
        let names = UsageReport.InferenceAggregate.allCases.map(\.rawValue)
        let aggregateText = q.get("aggregate") ?? "service"
        guard let aggregate = UsageReport.InferenceAggregate(rawValue: aggregateText) else {
            throw APIError(.badRequest, code: "badRequest", "cannot aggregate by '\(aggregateText.prefix(60))'" + (Suggestions.closest(to: aggregateText, in: names).map { "; did you mean '\($0)'?" } ?? "")
                           + " (aggregates: \(names.joined(separator: ", ")))")
        }
        let store = controlPlane.store
        await MeteringService.catchUp(store, logger: Logger(label: "tarmac.metering"))
        let rows = try await store.usage(since: window.firstDay, until: window.endDay, team: nil).filter { p.canRead(team: $0.team) }
        let lines = UsageReport.inference(rows, by: aggregate, rates: UsageReport.Rates(platform: controlPlane.contract.platform))
        let range = AllocationView.Range(start: window.start, end: window.end)
        let data = lines.mapValues { l in
            InferenceCostView(name: l.keys[aggregate.rawValue] ?? "", window: range, promptTokens: l.promptTokens, completionTokens: l.completionTokens, requests: l.requests,
                              gpuHours: l.gpuSeconds / 3600, totalCost: (l.cost * 1_000_000).rounded() / 1_000_000, costPer1kTokens: l.costPer1kTokens,
                              modelLoads: l.modelLoads, modelLoadSecondsMean: l.modelLoads > 0 ? l.modelLoadSeconds / Double(l.modelLoads) : nil)
        }
        return try JSON.response(InferenceCostResponse(data: data))
    }

    /// OpenCost's `/allocation` shape over the ledger (`window`, `aggregate`, `includeIdle`): one set, allocations by name.
    @Sendable func allocation(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        let now = controlPlane.clock.now
        let window = try Self.window(q.get("window"), now: now)
        let aggregate = (q.get("aggregate") ?? "namespace").split(separator: ",").map(String.init)
        for a in aggregate where !Allocation.aggregates.contains(a) {
            throw APIError(.badRequest, code: "badRequest", "cannot aggregate by '\(a.prefix(60))'" + (Suggestions.closest(to: a, in: Allocation.aggregates).map { "; did you mean '\($0)'?" } ?? "")
                           + " (aggregates: \(Allocation.aggregates.joined(separator: ", ")))")
        }
        let includeIdle = ["true", "1"].contains(q.get("includeIdle") ?? "false")
        let store = controlPlane.store
        await MeteringService.catchUp(store, logger: Logger(label: "tarmac.metering"))
        let rows = try await store.usage(since: window.firstDay, until: window.endDay, team: nil).filter { p.canRead(team: $0.team) }
        let platform = controlPlane.contract.platform
        let rates = UsageReport.Rates(platform: platform)
        // Idle capacity is the whole platform's: shown to those who may see every team.
        var capacity: Allocation.Capacity?
        if includeIdle, p.team == nil {
            var gpus: [String: Double] = [:], cpu = 0.0, memory = 0.0
            for n in await controlPlane.inventoryNodes() {
                if let a = n.accelerator, n.gpus > 0 { gpus[a, default: 0] += Double(n.gpus) }
                cpu += Double(n.cpuMilli) / 1000
                memory += Double(n.memoryMiB) / 1024
            }
            capacity = Allocation.Capacity(gpus: gpus, cpuCores: cpu, memoryGiB: memory)
        }
        let set = Allocation.set(rows, window: window, aggregate: aggregate, rates: rates, idle: capacity)
        return try JSON.response(AllocationResponse(data: [set]))
    }

    @Sendable func report(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        let q = request.uri.queryParameters
        let now = controlPlane.clock.now
        var by: [UsageReport.Dimension] = []
        for word in (q.get("by") ?? "team").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !word.isEmpty {
            guard let d = UsageReport.Dimension(rawValue: word) else {
                let names = UsageReport.Dimension.allCases.map(\.rawValue)
                throw APIError(.badRequest, code: "badRequest", "cannot sum by '\(word)'" + (Suggestions.closest(to: word, in: names).map { "; did you mean '\($0)'?" } ?? "") + " (by: \(names.joined(separator: ", ")))")
            }
            if !by.contains(d) { by.append(d) }
        }
        let since = try q.get("since").map { try Self.day($0, now: now, name: "since") }
        let until = try q.get("until").map { try Self.day($0, now: now, name: "until") }
        return try JSON.response(try await controlPlane.usageReport(by: by, since: since, until: until, team: q.get("team"), caller: p))
    }

    /// The `window` query parameter (default today), or 400 saying what it may be.
    static func window(_ text: String?, now: Date) throws -> Allocation.Window {
        let windowText = text ?? "today"
        guard let window = Allocation.Window.parse(windowText, now: now) else {
            throw APIError(.badRequest, code: "badRequest", "window is today, yesterday, week, month, lastmonth, 7d, 24h or START,END (RFC 3339), not '\(windowText.prefix(60))'")
        }
        return window
    }

    /// `2026-12-01`, or `7d` (that many days before today, UTC), or `today`.
    static func day(_ text: String, now: Date, name: String) throws -> String {
        if text == "today" { return UsageLedger.day(now.timeIntervalSince1970) }
        if text.hasSuffix("d"), let n = Int(text.dropLast()), (0...3660).contains(n) {
            return UsageLedger.day(now.timeIntervalSince1970 - Double(n) * 86_400)
        }
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2, let m = Int(parts[1]), let d = Int(parts[2]), Int(parts[0]) != nil,
              (1...12).contains(m), (1...31).contains(d) else {
            throw APIError(.badRequest, code: "badRequest", "\(name) is a day (2026-12-01), a number of days back (7d) or today, not '\(text.prefix(40))'")
        }
        return text
    }
}
