import Foundation
import Metrics
import TarmacAPI
import TarmacCore
import TarmacMetering
import TarmacModel

/// Idle-GPU reclaim: each GPU telemetry sample (`observeGPUs`) is judged against the contract's `idle` policy of the workload's
/// environment and class (`IdleJudge`); a notice, its clearing, scaling to zero and stopping are transitions of the
/// workload, each an audit record carrying the evidence (the utilization series that led to it), counted on
/// `tarmac_idle_actions_total`. A service scaled to zero waits in the queue, not admitted, until a request through the
/// inference gateway wakes it (`wake`).
extension ControlPlane {
    /// A workload's latest GPU reading (nil: it holds no GPU, or no telemetry reads them).
    public func gpuReading(_ workload: String) -> WorkloadTelemetryView? {
        guard tracked[workload]?.entry.state.holdsCapacity == true else { return nil }
        return gpuReadings[workload]
    }

    /// The answer to a request for a service that does not serve now.
    public enum WakeAnswer: Sendable, Equatable {
        /// It was scaled to zero; it is admitted again as capacity allows.
        case waking
        /// It was woken from zero already and is on its way (queued, admitted, its replicas starting).
        case starting
        /// It is not starting from zero (no such live service, or one that simply has no ready replica now).
        case none

        /// Whether a request should wait for it.
        public var startsFromZero: Bool { self != .none }
    }

    /// One telemetry sample taken at `now` (the GPU readings of every workload holding GPUs): kept for `get` and `why`,
    /// and judged by the idle policies.
    public func observeGPUs(_ readings: [WorkloadTelemetryView], at now: Date) async {
        gpuReadings = Dictionary(readings.map { ($0.workload, $0) }, uniquingKeysWith: { a, _ in a })
        let platform = contract.platform
        let judged: [IdleJudge.Reading] = readings.compactMap { r in
            guard let e = tracked[r.workload]?.entry, e.state == .running,
                  let c = DocumentKind(rawValue: e.kind)?.workloadClass, let policy = platform.environments[e.env]?.idle[c] else { return nil }
            // The judge reads percent of a GPU: a workload on several GPUs, their mean.
            return IdleJudge.Reading(workload: r.workload, utilization: r.utilization / max(1, r.gpus.rounded(.up)), policy: policy)
        }
        guard !judged.isEmpty || !idle.watching.isEmpty else { return }
        for verdict in idle.observe(judged, at: now) {
            switch verdict {
            case .notice(let id, let evidence, let actAt):
                let action = judged.first { $0.workload == id }?.policy.action ?? .notify
                await act(id, .idleNoticed(evidence: evidence.summary, action: action.rawValue, actAt: actAt), count: "notice")
            case .cleared(let id, let utilization):
                await act(id, .idleCleared(utilization: utilization), count: "cleared")
            case .act(let id, let action, let evidence):
                switch action {
                case .notify: break
                case .scaleToZero: await act(id, .idleReclaimed(scaleToZero: true, evidence: evidence.summary), count: "scaleToZero")
                case .stop: await act(id, .idleReclaimed(scaleToZero: false, evidence: evidence.summary), count: "stop")
                }
            }
        }
    }

    /// A request through the inference gateway for `team/service`, which has no replica that serves: a service scaled
    /// to zero is let back into the queue.
    public func wake(team: String, service: String, by caller: String) async -> WakeAnswer {
        let live = tracked.live.compactMap { tracked[$0]?.entry }.filter { $0.team == team && $0.name == service && $0.kind == DocumentKind.inferenceService.rawValue }
        guard let e = live.max(by: { $0.createdAt < $1.createdAt }), !e.cancelRequested else { return .none }
        if e.state == .queued, e.scaledToZeroAt != nil {
            wokenFromZero[e.id] = e.attempt
            await act(e.id, .woken(by: caller), count: "wake")
            return .waking
        }
        guard let at = wokenFromZero[e.id] else { return .none }
        if (e.state == .queued && e.attempt == at) || (e.state.holdsCapacity && e.attempt == at + 1) { return .starting }
        wokenFromZero[e.id] = nil
        return .none
    }

    private func act(_ id: String, _ event: WorkloadEvent, count: String) async {
        guard let e = tracked[id]?.entry else { return }
        do {
            try await apply(id, event)
            Counter(label: "tarmac_idle_actions_total", dimensions: [("team", e.team), ("env", e.env), ("action", count)]).increment()
            loop.dirty = true
        } catch {
            logger.error("idle reclaim could not record its step", metadata: ["workload": "\(id)", "action": "\(count)", "error": "\(error)"])
        }
    }
}
