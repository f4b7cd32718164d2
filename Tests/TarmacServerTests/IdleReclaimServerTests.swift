import Foundation
import TarmacTesting
import Testing

extension ServerTests {
/// Idle reclaim through a real `tarmac up` (#27), on real time with short periods: a fake `nvidia-smi` on its PATH
/// (two L4s; each reading replays the utilization the test writes to a file), two InferenceServices on one L4 each
/// (the OpenAI-compatible stub as real local pods). Environment dev scales inference services to zero under 5% for 3 s,
/// after 2 s of grace. The idle one is noticed and scaled to zero, its GPU given back; the busy one is untouched; the
/// next request through the inference gateway wakes the idle one, waits for its replica and is answered by it.
@Suite struct IdleReclaimServerTests {
    @Test func anIdleServiceIsScaledToZeroAndItsNextRequestBringsItBack() async throws {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort), "--cold-start-timeout", "60"])
        let utilization = server.dir.path + "/utilization"
        // GPU index -> utilization percent, one per line ("0 50").
        func setUtilization(_ u: [Int: Int]) throws {
            try u.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "\n").appending("\n")
                .write(toFile: utilization, atomically: true, encoding: .utf8)
        }
        try setUtilization([0: 50, 1: 50])
        try server.fakeNvidiaSMI("""
            #!/bin/sh
            if [ "$1" = "-L" ]; then echo "GPU 0: NVIDIA L4 (UUID: GPU-0a)"; echo "GPU 1: NVIDIA L4 (UUID: GPU-1b)"; exit 0; fi
            while kill -0 $PPID 2>/dev/null; do
              while read -r index util; do
                echo "$index, GPU-$index, $util, 2048, 23034, 40.0, 0x0000000000000000"
              done < \(utilization)
              sleep 0.5
            done
            """)
        server.platform = try server.dir.write("platform.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: Platform
            metadata: {name: acme}
            spec:
              extends: [\(Fixtures.examplePlatform)]
              sizes:
                inference:
                  l4-one: {accelerator: l4, gpus: 1, cpu: 500m, memory: 512Mi}
              environments:
                dev:
                  idle:
                    inference: {gpuUtilizationBelow: 5, for: 3s, action: scaleToZero, grace: 2s}
            """)
        try await server.start()
        #expect(server.serverLog.contains("2 GPUs (l4)"), "the fake is the machine's GPUs: \(server.serverLog.prefix(2000))")
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        try server.dir.write("serve/model_server.py", try String(contentsOfFile: Fixtures.path("Tests/Support/model_server.py"), encoding: .utf8))
        for name in ["quiet", "busy"] {
            let doc = try server.dir.write("serve/\(name).yaml", """
                apiVersion: tarmac.dev/v1alpha1
                kind: InferenceService
                metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
                spec:
                  size: l4-one
                  model: \(name)@1.0.0
                  image: docker.io/library/python:3.12-slim
                  command: [python3, model_server.py]
                  workdir: .
                  port: 8080
                """)
            let submitted = try server.cli(["submit", doc], token: member)
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        var gpu: [String: Int] = [:]
        for name in ["quiet", "busy"] {
            let running = try await server.waitFor(name) { $0["state"] as? String == "running" }
            gpu[name] = try #require(((running["placements"] as? [[String: Any]])?.first?["gpus"] as? [Int])?.first, "\(running)")
        }
        let quietReplica = try #require(try await server.waitFor("quiet") { ($0["endpoints"] as? [String])?.isEmpty == false }["endpoints"] as? [String]).first!
        #expect(Set(gpu.values) == [0, 1], "one L4 each: \(gpu)")
        // From now on the quiet one's GPU idles at 1%, the busy one's works at 80%.
        try setUtilization([gpu["quiet"]!: 1, gpu["busy"]!: 80])
        let zero = try await server.waitFor("quiet", timeout: .seconds(60)) { $0["state"] as? String == "queued" }
        #expect((zero["message"] as? String)?.contains("scaled to zero by idle reclaim (GPU utilization under 5.0%") == true, "\(zero)")
        let why = try await server.json(.GET, "/v1/workloads/quiet/why", token: member).1
        #expect(why["reason"] as? String == "scaledToZero", "\(why)")
        let busy = try await server.json(.GET, "/v1/workloads/busy", token: member).1
        #expect(busy["state"] as? String == "running" && busy["attempt"] as? Int == 1 && busy["message"] == nil, "\(busy)")

        // Its replica no longer answers (a request in the moment before would still have been answered by it).
        try await eventually("the quiet service's replica stops answering", timeout: .seconds(30)) {
            await withTaskGroup(of: Bool?.self) { group in
                group.addTask { (try? await TestServer.request(.GET, quietReplica + "/health")) != nil }
                group.addTask { try? await Task.sleep(for: .seconds(1)); return nil }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first != true
            }
        }
        // The next request wakes it and waits for its replica (its GPU is worked from now on).
        try setUtilization([0: 60, 1: 80])
        let began = ContinuousClock.now
        let (status, body) = try await TestServer.request(.POST, "http://127.0.0.1:\(inferencePort)/search/quiet/v1/completions",
                                                          headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(member)")],
                                                          body: #"{"prompt": "wake up"}"#)
        let waited = ContinuousClock.now - began
        let answer = (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
        #expect(status == 200 && answer["model"] as? String == "quiet@1.0.0", "\(status) \(String(decoding: body, as: UTF8.self)) after \(waited)")
        let back = try await server.json(.GET, "/v1/workloads/quiet", token: member).1
        #expect(back["state"] as? String == "running" && back["attempt"] as? Int == 2, "\(back)")
        print("a request to the service scaled to zero waited \(waited) for it to start again")

        // The audit trail has the notice, the scale to zero (with the utilization series) and the wake.
        let (_, records) = try await server.json(.GET, "/v1/audit?limit=500", token: try server.adminToken)
        let idle = ((records["items"] as? [[String: Any]]) ?? []).filter { $0["actorID"] as? String == "idle-reclaim" }
        #expect(idle.compactMap { $0["action"] as? String } == ["idle-notice", "scale-to-zero", "wake"], "\(idle)")
        #expect((idle.first { $0["action"] as? String == "scale-to-zero" }?["detail"] as? String)?.contains("mean 1.0%, max 1.0%; series 1.0") == true, "\(idle)")
        let metrics = String(decoding: try await server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
        #expect(metrics.contains(#"tarmac_idle_actions_total{team="search",env="dev",action="scaleToZero"} 1"#), "\(metrics.split(separator: "\n").filter { $0.contains("idle") })")
        for name in ["quiet", "busy"] { _ = try server.cli(["cancel", name], token: member) }
    }
}
}
