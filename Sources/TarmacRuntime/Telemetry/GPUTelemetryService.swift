import Foundation
import Metrics
import ServiceLifecycle
import Synchronization
import TarmacAPI
import TarmacCore
import TarmacMetering

/// Reads the telemetry source every `every` and gives its GPU readings to the workloads holding each GPU (by share):
/// `tarmac_gpu_utilization`, `tarmac_gpu_memory_used_mib` and `tarmac_gpu_throttled{reason}` per workload (labels
/// team, env, workload, kind) and `tarmac_gpu_device_utilization` per device on `/metrics`; the latest per workload for
/// `GET /v1/telemetry` and `tarmac top`; each sample is also judged by idle reclaim (`ControlPlane.observeGPUs`).
public final class GPUTelemetryService: Service, Sendable {
    let source: any TelemetrySource
    let controlPlane: ControlPlane
    let every: Duration
    private let state = Mutex<(workloads: [WorkloadTelemetryView], devices: [GPUSample], at: Date?)>(([], [], nil))
    private let gauges = Mutex(GPUGauges())

    public init(source: any TelemetrySource, controlPlane: ControlPlane, every: Duration = .seconds(1)) {
        self.source = source
        self.controlPlane = controlPlane
        self.every = every
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.source.run() }
                group.addTask {
                    while !Task.isCancelled {
                        await self.sample()
                        try? await Task.sleep(for: self.every)
                    }
                }
                await group.waitForAll()
            }
        }
    }

    /// What the last sample said: each running workload's GPU reading, and every device's.
    public func latest() -> (workloads: [WorkloadTelemetryView], devices: [GPUSample], at: Date?) { state.withLock { $0 } }

    /// One sample: read the source, attribute, record (what `run` does every `every`; also what tests call).
    public func sample() async {
        let samples = await source.latest()
        guard !samples.isEmpty else { return }
        let holding = await controlPlane.gpuHolders()
        let (byWorkload, _) = GPUAttribution.attribute(samples, holds: Self.holds(samples, holding: holding))
        var readings: [WorkloadTelemetryView] = []
        var g = gauges.withLock { $0 }
        for e in holding {
            guard let u = byWorkload[e.id] else { continue }
            g.record(e.id, labels: [("team", e.team), ("env", e.env), ("workload", e.name), ("kind", e.kind)], u)
            readings.append(WorkloadTelemetryView(workload: e.id, name: e.name, team: e.team, env: e.env, kind: e.kind, gpus: u.gpus, utilization: u.utilization,
                                            memoryUsedMiB: u.memoryUsedMiB, throttling: u.throttling.sorted()))
        }
        for s in samples { g.device(s) }
        g.keep(only: Set(holding.map(\.id)))
        gauges.withLock { $0 = g }
        let now = controlPlane.clock.now
        state.withLock { $0 = (readings.sorted { $0.utilization > $1.utilization }, samples, now) }
        // Idle reclaim judges the same readings.
        await controlPlane.observeGPUs(readings, at: now)
    }
}

extension GPUTelemetryService {
    /// Which workload holds which share of which GPU. Where the exporter names the pods using a GPU (dcgm-exporter on
    /// Kubernetes: the kubelet chose the device), those pods' workloads hold it, at their placement's share; on other
    /// nodes, Tarmac's placements say (locally Tarmac chose the device index itself).
    public static func holds(_ samples: [GPUSample], holding: [WorkloadEntry]) -> [GPUAttribution.Hold] {
        let byID = Dictionary(holding.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [GPUAttribution.Hold] = []
        var told: Set<String> = []
        for s in samples where !s.pods.isEmpty {
            told.insert(s.node)
            for w in Set(s.workloads).sorted() {
                guard let e = byID[w] else { continue }
                let milli = e.placements.first { $0.node == s.node && $0.gpuMilli > 0 }?.gpuMilli ?? 1000
                out.append(.init(workload: w, node: s.node, gpu: s.gpu, milli: milli))
            }
        }
        for e in holding {
            for p in e.placements where p.gpuMilli > 0 && !told.contains(p.node) {
                for g in p.gpus { out.append(.init(workload: e.id, node: p.node, gpu: g, milli: p.gpuMilli)) }
            }
        }
        return out
    }
}

extension ControlPlane {
    /// Workloads holding GPUs now (admitted or running with a GPU share).
    public func gpuHolders() -> [WorkloadEntry] {
        tracked.holding.compactMap { id in
            guard let e = tracked[id]?.entry, e.state.holdsCapacity, e.placements.contains(where: { $0.gpuMilli > 0 }) else { return nil }
            return e
        }
    }
}
