import Foundation
import TarmacTesting
import Testing

extension ServerTests {
/// GPU telemetry through a real `tarmac up` (#27): a fake `nvidia-smi` on its PATH (written here: `-L` lists one L4,
/// the query replays a recorded reading every half second) is the machine's GPU; a workload holding half of it gets its
/// reading in `tarmac top`, `get`, `why` and on `/metrics` (labels team, env, workload, kind), the clock event reason by name; every
/// query of the example Grafana dashboard (examples/grafana) names a metric this `/metrics` exports.
@Suite struct GPUTopTests {
    @Test func aWorkloadsGPUReadingShowsInTopAndMetrics() async throws {
        let server = try TestServer()
        try server.fakeNvidiaSMI("""
            #!/bin/sh
            if [ "$1" = "-L" ]; then echo "GPU 0: NVIDIA L4 (UUID: GPU-5c1e2f40)"; exit 0; fi
            # Like nvidia-smi, it reads until it is stopped; unlike it, it also stops when the server is gone. Asked
            # for the GPU's processes, it lists the job's python (found in /proc) with 1500 MiB.
            while kill -0 $PPID 2>/dev/null; do
              case "$1" in
                --query-compute-apps=*)
                  for d in /proc/[0-9]*; do
                    if tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q 'time.sleep(60)'; then echo "GPU-5c1e2f40, ${d#/proc/}, 1500"; fi
                  done ;;
                *) echo "0, GPU-5c1e2f40, 64, 2048, 23034, 51.5, 0x0000000000000020" ;;
              esac
              sleep 0.5
            done
            """)
        // The example platform, a size on half an L4, and a budget for team search (so the dashboard's budget panel
        // has its metrics).
        server.platform = try server.dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              teams:
                search: {budget: {monthly: 1000}}
              sizes:
                batch:
                  gpu-half: {accelerator: l4, gpus: 0.5, cpu: 1, memory: 1Gi}
            """)
        try await server.start()
        #expect(server.serverLog.contains("1 GPU (l4)"), "the fake is the machine's GPU: \(server.serverLog.prefix(2000))")
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let job = try server.dir.write("gpu-job.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: BatchJob
            metadata: {name: gpu-job, team: search, env: dev, owner: alice@acme.example}
            spec:
              size: gpu-half
              tasks: 1
              image: docker.io/library/python:3.12-slim
              command: [python3, -c, "import time; time.sleep(60)"]
              maxDuration: 5m
            """)
        #expect(try server.cli(["submit", job], token: member).status == 0)
        _ = try await server.waitFor("gpu-job") { $0["state"] as? String == "running" }
        var top = try server.cli(["top"], token: member)
        try await eventually("top shows the workload's reading", timeout: .seconds(20)) {
            top = try server.cli(["top"], token: member)
            return top.stdout.contains("gpu-job")
        }
        // Its memory is its process's own (NVML's compute apps, the pid resolved through its pod's supervisor), not the device's.
        try await eventually("top shows the job's process memory", timeout: .seconds(20)) {
            top = try server.cli(["top"], token: member)
            return top.stdout.contains("1500 MiB")
        }
        #expect(top.stdout.contains("gpu-job   search  BatchJob  0.5   64%   1500 MiB  sw_thermal_slowdown"), "\(top.stdout)")
        #expect(!top.stdout.contains("NODE"), "a member sees no device table")
        // `get` and `why` show the same reading.
        let get = try server.cli(["get", "gpu-job"], token: member)
        #expect(get.stdout.contains("64% utilization, 1500 MiB used, throttled: sw_thermal_slowdown"), "\(get.stdout)")
        let why = try await server.json(.GET, "/v1/workloads/gpu-job/why", token: member).1
        #expect((why["message"] as? String)?.contains("its GPUs: 64% utilization") == true && (why["gpu"] as? [String: Any])?["utilization"] as? Double == 64,
                "\(why)")
        let admin = try server.cli(["top"], token: try server.adminToken)
        #expect(admin.stdout.contains("2048 / 23034 MiB") && admin.stdout.contains("52 W"), "\(admin.stdout)")
        let (_, metrics) = try await server.http(.GET, "/metrics", token: nil)
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(text.contains(#"tarmac_gpu_utilization{team="search",env="dev",workload="gpu-job",kind="BatchJob"} 64.0"#), "\(text.split(separator: "\n").filter { $0.contains("tarmac_gpu") })")
        #expect(text.contains(#"tarmac_gpu_throttled{team="search",env="dev",workload="gpu-job",kind="BatchJob",reason="sw_thermal_slowdown"} 1.0"#))
        #expect(try server.cli(["cancel", "gpu-job"], token: member).status == 0)
        _ = try await server.waitFor("gpu-job") { $0["state"] as? String == "cancelled" }

        // Every query of the example Grafana dashboard names metrics this /metrics exports.
        var exported: Set<String> = []
        try await eventually("the usage counters and budget gauges are exported", timeout: .seconds(20)) {
            let page = String(decoding: try await server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
            exported = Set(page.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init) })
            return exported.contains("tarmac_gpu_seconds_total") && exported.contains("tarmac_budget_spent")
        }
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("examples/grafana/tarmac-dashboard.json")))) as? [String: Any]
        let exprs = ((dashboard?["panels"] as? [[String: Any]]) ?? []).flatMap { ($0["targets"] as? [[String: Any]]) ?? [] }.compactMap { $0["expr"] as? String }
        #expect(exprs.count >= 9, "\(exprs)")
        let regex = try Regex("tarmac_[a-z_]+")
        var named: Set<String> = []
        for e in exprs { for m in e.matches(of: regex) { named.insert(String(e[m.range])) } }
        let missing = named.filter { !exported.contains($0) && !exported.contains($0 + "_bucket") }
        #expect(!named.isEmpty && missing.isEmpty, "the dashboard names metrics /metrics does not export: \(missing.sorted()); exported: \(exported.filter { $0.hasPrefix("tarmac_") }.sorted())")
    }
}
}
