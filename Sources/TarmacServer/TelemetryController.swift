import Foundation
import Hummingbird
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// /v1/telemetry: the last GPU readings per workload (the caller's teams) and per device (admins and auditors).
struct TelemetryController {
    let telemetry: GPUTelemetryService?

    func register(_ group: RouterGroup<TarmacRequestContext>) {
        group.get("telemetry", use: latest)
    }

    @Sendable func latest(_ request: Request, context: TarmacRequestContext) async throws -> Response {
        let p = try context.caller()
        guard let telemetry else {
            return try JSON.response(TelemetryView(at: nil, workloads: [], devices: p.team == nil ? [] : nil))
        }
        let (workloads, devices, at) = telemetry.latest()
        let mine = workloads.filter { p.canRead(team: $0.team) }
        let all = p.team == nil ? devices.map {
            DeviceTelemetryView(node: $0.node, gpu: $0.gpu, utilization: $0.utilization, memoryUsedMiB: $0.memoryUsedMiB, memoryTotalMiB: $0.memoryTotalMiB,
                                powerWatts: $0.powerWatts, throttling: $0.throttling)
        } : nil
        return try JSON.response(TelemetryView(at: at, workloads: mine, devices: all))
    }
}
