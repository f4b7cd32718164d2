import Foundation
import Logging
@testable import TarmacLocal
import TarmacMetering
import TarmacTesting
import Testing

/// GPU telemetry from recorded readings (#27): a fake `nvidia-smi` (a script written here that replays recorded CSV
/// lines as the long-running `--query-gpu ... -lms` reader prints them) read by one process, not one per sample; a
/// recorded dcgm-exporter page read into the same samples; readings given to the workloads holding each GPU by share.
@Suite(.serialized) struct GPUTelemetryTests {
    /// Two recorded passes over two H100s: GPU 0 busy and thermally slowed in the second, GPU 1 idle.
    static let recorded = [
        "0, GPU-5c1e2f40-aaaa-bbbb-cccc-000000000000, 82, 30512, 81559, 412.33, 0x0000000000000000",
        "1, GPU-77d0e1a2-aaaa-bbbb-cccc-111111111111, 0, 4, 81559, 71.02, 0x0000000000000001",
        "0, GPU-5c1e2f40-aaaa-bbbb-cccc-000000000000, 90, 30600, 81559, 455.90, 0x0000000000000020",
        "1, GPU-77d0e1a2-aaaa-bbbb-cccc-111111111111, 0, 4, 81559, [N/A], 0x0000000000000001",
    ]

    @Test func theLongRunningReaderKeepsTheLatestReadingOfEachGPU() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-nvidia-smi")
        let calls = dir.path + "/calls"
        // The fake prints what nvidia-smi prints for these arguments, one pass per interval, then keeps running.
        let script = try dir.write("nvidia-smi", """
            #!/bin/sh
            echo "$@" >> \(calls)
            case "$1" in --query-gpu=index,uuid,utilization.gpu,memory.used,memory.total,power.draw,clocks_event_reasons.active) ;; *) echo "unexpected: $@" >&2; exit 2;; esac
            [ "$3" = "-lms" ] || exit 3
            \(Self.recorded.prefix(2).map { "echo '\($0)'" }.joined(separator: "\n"))
            sleep 0.2
            \(Self.recorded.suffix(2).map { "echo '\($0)'" }.joined(separator: "\n"))
            exec sleep 30
            """)
        chmod(script, 0o755)
        let reader = NvidiaSMIReader(executable: script, everyMs: 200, node: "local", logger: Logger(label: "test"))
        let task = Task { await reader.run() }
        defer { task.cancel() }
        try await eventually("both passes were read", timeout: .seconds(30)) {
            await reader.latest().first?.utilization == 90
        }
        let latest = await reader.latest()
        #expect(latest.map(\.gpu) == [0, 1])
        #expect(latest[0].utilization == 90 && latest[0].memoryUsedMiB == 30600 && latest[0].memoryTotalMiB == 81559 && latest[0].powerWatts == 455.9)
        #expect(latest[0].throttling == ["sw_thermal_slowdown"], "the clock event reason by name: \(latest[0].throttling)")
        #expect(latest[1].powerWatts == nil && latest[1].throttling.isEmpty, "[N/A] is no figure; idle is no throttle")
        let started = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n")
        #expect(started.count == 1, "one process for every sample: \(started)")
    }

    /// Where NVML lists each GPU's processes (`--query-compute-apps`, a second long-running reader), a shared GPU's
    /// memory is each workload's own: two pods' processes (children of their supervisors, found through `/proc`) on one
    /// GPU get 1,000 and 3,000 MiB, not shares of the device's 8,000; utilization is still split by share.
    @Test func aSharedGPUsMemoryIsEachWorkloadsOwnWhereNVMLListsItsProcesses() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-compute-apps")
        let root = dir.path + "/pods"
        // Two "supervisors" (their command lines as LocalBackend starts them), each with a child process on the GPU.
        var supervisors: [Process] = []
        var pids: [Int32] = []
        for w in ["wl-a", "wl-b"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Run.which("python3") ?? "/usr/bin/python3")
            // It forks a child that becomes `sleep 60` (its own command line), writes the child's pid, and waits.
            p.arguments = ["-c", "import os, sys\npid = os.fork()\nif pid == 0:\n    os.execvp('sleep', ['sleep', '60'])\n"
                           + "open(sys.argv[3], 'w').write(str(pid))\nos.waitpid(pid, 0)", "pod-supervisor", "\(root)/\(w)/1/0", "\(dir.path)/\(w).pid.tmp"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            supervisors.append(p)
            var child: Int32?
            try await eventually("\(w)'s child started") {
                child = (try? String(contentsOfFile: "\(dir.path)/\(w).pid.tmp", encoding: .utf8)).flatMap { Int32($0) }
                return child != nil
            }
            pids.append(child!)
        }
        defer {
            // The children first: each supervisor then ends by itself (nothing waits for them on the test's thread).
            for pid in pids { kill(pid, SIGKILL) }
            for p in supervisors { kill(p.processIdentifier, SIGKILL) }
        }
        #expect(ProcessOwner(podsRoot: root).workload(of: pids[0]) == "wl-a" && ProcessOwner(podsRoot: root).workload(of: pids[1]) == "wl-b")
        #expect(ProcessOwner(podsRoot: root).workload(of: getpid()) == nil, "not a pod's")
        let script = try dir.write("nvidia-smi", """
            #!/bin/sh
            while true; do
              case "$1" in
                --query-gpu=*) echo '0, GPU-S0, 60, 8000, 23034, 50.0, 0x0000000000000000' ;;
                --query-compute-apps=gpu_uuid,pid,used_memory) echo 'GPU-S0, \(pids[0]), 1000'; echo 'GPU-S0, \(pids[1]), 3000'; echo 'GPU-S0, 1, 500' ;;
                *) exit 2 ;;
              esac
              sleep 0.1
            done
            """)
        chmod(script, 0o755)
        let owner = ProcessOwner(podsRoot: root)
        let reader = NvidiaSMIReader(executable: script, everyMs: 100, node: "local", owner: { owner.workload(of: $0) }, logger: Logger(label: "test"))
        let task = Task { await reader.run() }
        defer { task.cancel() }
        var samples: [GPUSample] = []
        try await eventually("the GPU and its processes are read", timeout: .seconds(10)) {
            samples = await reader.latest()
            return samples.first?.memoryByWorkload?.count == 2
        }
        #expect(samples.first?.memoryByWorkload == ["wl-a": 1000, "wl-b": 3000], "a process of no pod (pid 1) is nobody's: \(String(describing: samples.first?.memoryByWorkload))")
        let (by, _) = GPUAttribution.attribute(samples, holds: [.init(workload: "wl-a", node: "local", gpu: 0, milli: 250), .init(workload: "wl-b", node: "local", gpu: 0, milli: 500)])
        #expect(by["wl-a"]?.memoryUsedMiB == 1000 && by["wl-b"]?.memoryUsedMiB == 3000, "measured, not 1/3 and 2/3 of 8,000")
        #expect(by["wl-a"]?.utilization == 20 && by["wl-b"]?.utilization == 40, "utilization by share")
    }

    @Test func aSupervisorsCommandLineNamesItsWorkload() {
        #expect(ProcessOwner.workload(commandLine: ["/usr/bin/tarmac", "pod-supervisor", "/data/pods/wl-1/2/0"], podsRoot: "/data/pods") == "wl-1")
        #expect(ProcessOwner.workload(commandLine: ["/usr/bin/tarmac", "pod-supervisor", "/other/pods/wl-1/2/0"], podsRoot: "/data/pods") == nil)
        #expect(ProcessOwner.workload(commandLine: ["/usr/bin/tarmac", "pod-supervisor", "/data/pods/wl-1/x/0"], podsRoot: "/data/pods") == nil)
        #expect(ProcessOwner.workload(commandLine: ["python3", "train.py"], podsRoot: "/data/pods") == nil)
        #expect(NvidiaSMI.parseApp("GPU-5c1e, 41234, 30200")! == ("GPU-5c1e", 41234, 30200))
        #expect(NvidiaSMI.parseApp("No running processes found") == nil && NvidiaSMI.parseApp("GPU-5c1e, 41234, [N/A]") == nil)
    }

    /// A reader left running by a control plane that was killed (its pid in the data directory) is stopped by the next
    /// one; a pid that names something else is left alone.
    @Test func aReaderLeftByAKilledControlPlaneIsStopped() async throws {
        let dir = try TemporaryDirectory(prefix: "tarmac-nvidia-smi-left")
        let script = try dir.write("nvidia-smi", "#!/bin/sh\nwhile true; do sleep 1; done\n")
        chmod(script, 0o755)
        let left = Process()
        left.executableURL = URL(fileURLWithPath: script)
        left.arguments = NvidiaSMI.arguments(everyMs: 1000)
        try left.run()
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/bin/sleep")
        other.arguments = ["60"]
        try other.run()
        defer { kill(other.processIdentifier, SIGKILL); kill(left.processIdentifier, SIGKILL) }
        let pidFile = dir.path + "/gpu-reader.pid"
        // Something else under a reused pid: left alone.
        try "\(other.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        NvidiaSMIReader(executable: script, node: "local", pidFile: pidFile, logger: Logger(label: "test")).stopLeftOver()
        try await Task.sleep(for: .milliseconds(200))
        #expect(other.isRunning)
        // The earlier reader: stopped.
        try "\(left.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        NvidiaSMIReader(executable: script, node: "local", pidFile: pidFile, logger: Logger(label: "test")).stopLeftOver()
        try await eventually("the left-over reader is stopped", timeout: .seconds(5)) { !left.isRunning }
    }

    /// A recorded dcgm-exporter page (its series and labels as dcgm-exporter 3.x writes them).
    static let page = #"""
        # HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
        # TYPE DCGM_FI_DEV_GPU_UTIL gauge
        DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-5c1e2f40",pci_bus_id="00000000:07:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a",DCGM_FI_DRIVER_VERSION="550.54.15"} 71
        DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-77d0e1a2",pci_bus_id="00000000:0F:00.0",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a",DCGM_FI_DRIVER_VERSION="550.54.15"} 0
        # HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
        # TYPE DCGM_FI_DEV_FB_USED gauge
        DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-5c1e2f40",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a"} 40960
        DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-77d0e1a2",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a"} 0
        DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-5c1e2f40",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a"} 40599
        DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-5c1e2f40",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a"} 388.125
        DCGM_FI_DEV_CLOCKS_EVENT_REASONS{gpu="0",UUID="GPU-5c1e2f40",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a"} 132
        DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-5c1e2f40",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="h100-a",label_with_quote="a\"b"} 0.694
        """#

    @Test func aDCGMExporterPageIsReadIntoTheSameSamples() {
        let samples = DCGMExporter.samples(Self.page, node: "unknown")
        #expect(samples.map { "\($0.node)/\($0.gpu)" } == ["h100-a/0", "h100-a/1"])
        #expect(samples[0].utilization == 71 && samples[0].memoryUsedMiB == 40960 && samples[0].memoryTotalMiB == 81559 && samples[0].powerWatts == 388.125)
        #expect(samples[0].throttling == ["sw_power_cap", "hw_power_brake_slowdown"], "132 = 0x84: \(samples[0].throttling)")
        #expect(samples[0].uuid == "GPU-5c1e2f40")
        let series = DCGMExporter.series(Self.page)
        #expect(series.first { $0.name == "DCGM_FI_PROF_GR_ENGINE_ACTIVE" }?.labels["label_with_quote"] == "a\"b", "escapes in label values")
        #expect(series.count == 8, "every sample line, no comment")
    }

    /// dcgm-exporter with the kubelet's pod-resources labels each GPU with the pods using it: the sample names them.
    @Test func theExportersPodLabelsSayWhoUsesAGPU() {
        let page = #"""
            DCGM_FI_DEV_GPU_UTIL{gpu="3",UUID="GPU-3",Hostname="gpu-a",container="main",namespace="search-dev",pod="ft-0-abcde"} 55
            DCGM_FI_DEV_FB_USED{gpu="3",UUID="GPU-3",Hostname="gpu-a",container="main",namespace="search-dev",pod="ft-0-abcde"} 1024
            DCGM_FI_DEV_GPU_UTIL{gpu="3",UUID="GPU-3",Hostname="gpu-a",container="main",namespace="ads-dev",pod="emb-0-xyz"} 55
            DCGM_FI_DEV_GPU_UTIL{gpu="4",UUID="GPU-4",Hostname="gpu-a"} 0
            """#
        let samples = DCGMExporter.samples(page, node: "unknown")
        #expect(samples.map(\.gpu) == [3, 4])
        #expect(samples[0].pods == ["search-dev/ft-0-abcde", "ads-dev/emb-0-xyz"] && samples[0].utilization == 55, "a time-sliced GPU: both pods, one reading")
        #expect(samples[1].pods.isEmpty)
    }

    /// Two workloads sharing GPU 0 at 0.25 and 0.5 get 1/3 and 2/3 of its readings and their shares of its GPU-seconds;
    /// a whole GPU's holder gets all of it; per-workload GPU-seconds plus idle are the node's GPU-seconds.
    @Test func readingsGoToTheHoldersByShare() {
        let samples = [GPUSample(node: "h100-a", gpu: 0, utilization: 90, memoryUsedMiB: 30000, throttling: ["sw_thermal_slowdown"]),
                       GPUSample(node: "h100-a", gpu: 1, utilization: 40, memoryUsedMiB: 10000),
                       GPUSample(node: "h100-a", gpu: 2, utilization: 0, memoryUsedMiB: 0)]
        let holds = [GPUAttribution.Hold(workload: "a", node: "h100-a", gpu: 0, milli: 250), GPUAttribution.Hold(workload: "b", node: "h100-a", gpu: 0, milli: 500),
                     GPUAttribution.Hold(workload: "c", node: "h100-a", gpu: 1, milli: 1000)]
        let (by, idle) = GPUAttribution.attribute(samples, holds: holds)
        #expect(by["a"]?.utilization == 30 && by["b"]?.utilization == 60 && by["c"]?.utilization == 40)
        #expect(by["a"]?.memoryUsedMiB == 10000 && by["b"]?.memoryUsedMiB == 20000 && by["a"]?.throttling == ["sw_thermal_slowdown"] && by["c"]?.throttling == [])
        #expect(idle.map(\.gpu) == [2])
        let (seconds, idleSeconds) = GPUAttribution.gpuSeconds(gpus: 3, node: "h100-a", holds: holds, seconds: 3600)
        #expect(seconds["a"] == 900 && seconds["b"] == 1800 && seconds["c"] == 3600)
        #expect(abs(seconds["a"]! / (seconds["a"]! + seconds["b"]!) - 1.0 / 3) < 1e-12, "1/3 and 2/3 of what was allocated of the shared GPU")
        let sum = seconds.values.reduce(0, +) + idleSeconds
        print("attribution error: \(String(format: "%.6f", abs(sum - 3 * 3600) / (3 * 3600) * 100))% of the node's GPU-seconds")
        #expect(abs(sum - 3 * 3600) <= 0.01 * 3 * 3600)
    }
}
