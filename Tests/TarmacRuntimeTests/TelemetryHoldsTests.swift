import Foundation
import TarmacCore
import TarmacMetering
import TarmacRuntime
import Testing

/// Who holds which GPU, for attribution: where the exporter names the pods on a GPU (Kubernetes: the kubelet chose the
/// device), their workloads do, at their placement's share; elsewhere Tarmac's placements say.
@Suite struct TelemetryHoldsTests {
    static func entry(_ id: String, node: String, gpus: [Int], milli: Int) -> WorkloadEntry {
        var e = WorkloadEntry(id: id, name: id, team: "search", env: "dev", kind: "BatchJob", owner: nil, submittedBy: "a", requestID: nil, size: "gpu",
                              podCount: 1, priority: 0, source: "", maxAttempts: 1, now: Date(timeIntervalSince1970: 0))
        e.state = .running
        e.placements = [PodPlacement(node: node, gpus: gpus, gpuMilli: milli)]
        return e
    }

    @Test func theExportersPodsWinOverDeviceIndicesOnTheirNodes() {
        // On gpu-a Tarmac counted the job on GPUs 0-1; the kubelet gave it 6-7, and dcgm-exporter says so.
        var six = GPUSample(node: "gpu-a", gpu: 6, utilization: 80, memoryUsedMiB: 1)
        six.pods = ["search-dev/job-0"]
        six.workloads = ["wl-job"]
        var seven = six
        seven.gpu = 7
        var zero = GPUSample(node: "gpu-a", gpu: 0, utilization: 0, memoryUsedMiB: 0)
        zero.pods = []
        // On local, no exporter names pods: the placement's indices are the devices.
        let local = GPUSample(node: "local", gpu: 1, utilization: 30, memoryUsedMiB: 1)
        let holding = [Self.entry("wl-job", node: "gpu-a", gpus: [0, 1], milli: 1000), Self.entry("wl-svc", node: "local", gpus: [1], milli: 500)]
        var marker = GPUSample(node: "gpu-a", gpu: 5, utilization: 0, memoryUsedMiB: 0)
        marker.pods = ["other/pod"]
        let holds = GPUTelemetryService.holds([six, seven, zero, local, marker], holding: holding)
        #expect(Set(holds.map { "\($0.workload) \($0.node)/\($0.gpu) \($0.milli)" }) == ["wl-job gpu-a/6 1000", "wl-job gpu-a/7 1000", "wl-svc local/1 500"],
                "\(holds)")
        let (by, _) = GPUAttribution.attribute([six, seven, zero, local], holds: holds)
        #expect(by["wl-job"]?.utilization == 160 && by["wl-job"]?.gpus == 2)
    }
}
