import Foundation
import Testing
import TarmacTesting

/// The local machine as the inventory: the contract's `local` section, and CPU enforced through the engine's accounting.
extension ServerTests {
@Suite struct InventoryTests {
    @Test func localSectionSetsTheMachineAndTheEngineAccountsItsCPU() async throws {
        let server = try TestServer()
        try server.usePlatform(appendingToSpec: "\n  local: {cpu: 1500m, memory: 3Gi}\n")
        try await server.start()
        let admin = try server.adminToken
        let (_, platform) = try await server.json(.GET, "/v1/platform", token: admin)
        let node = try #require((platform["nodes"] as? [[String: Any]])?.first)
        #expect(node["cpuMilli"] as? Int == 1500 && node["memoryMiB"] as? Int == 3072 && node["gpus"] as? Int == 0, "\(node)")

        // cpu-small training is 1 CPU: the second cannot start until the first ends.
        let long = Doc.training("first", script: "import time\ntime.sleep(3)")
        let second = Doc.training("second", script: "print('second ran')")
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: long).0 == 201)
        _ = try await server.waitFor("first") { $0["state"] as? String == "running" }
        #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: second).0 == 201)
        try await eventually("a cycle finds that second does not fit") { try server.cli(["why", "second"]).stdout.contains("queued [shape]") }
        let why = try server.cli(["why", "second"])
        #expect(why.stdout.contains("queued [shape]") && why.stdout.contains("CPU"), "\(why.stdout)")
        // Its estimated start: when first's 10m deadline frees the CPU, with what that assumes.
        #expect(why.stdout.contains("estimated start in 9m") || why.stdout.contains("estimated start in 10m"), "\(why.stdout)")
        #expect(why.stdout.contains("assuming each running job ends at its maxDuration deadline"), "\(why.stdout)")
        let queue = try server.cli(["queue"])
        #expect(queue.stdout.contains("second"), "\(queue.stdout)")
        let done = try await server.waitFor("second") { $0["state"] as? String == "succeeded" }
        let first = try await server.waitFor("first") { $0["state"] as? String == "succeeded" }
        let firstEnd = try #require((first["finishedAt"] as? String).flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) })
        let secondStart = try #require((done["startedAt"] as? String).flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) })
        #expect(secondStart >= firstEnd, "the second started only once the first had freed its CPU")
    }

    @Test func aTypoInTheLocalSectionIsAnErrorWithASuggestion() throws {
        let server = try TestServer()
        try server.usePlatform(appendingToSpec: "\n  local: {gpus: 1, accelerator: l5, cpus: 4}\n")
        let r = try Run.program(TestServer.binary, ["validate", server.platform], environment: ["NO_COLOR": "1"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("unknown field 'cpus' in spec.local; did you mean 'cpu'?"), "\(r.stdout)")
        #expect(r.stdout.contains("local names unknown accelerator 'l5'; did you mean 'l4'?"), "\(r.stdout)")
    }
}
}

extension ServerTests {
    /// Preemption on the local machine: a serving workload takes the CPU of a lower-priority batch gang, which goes back to
    /// the queue, and runs again once the room is free.
    @Suite struct PreemptionTests {
        @Test func higherPriorityPreemptsAWholeBatchGangWhichRunsAgainLater() async throws {
            let server = try TestServer()
            try server.usePlatform(appendingToSpec: "\n  local: {cpu: 1}\n")
            try await server.start()
            let admin = try server.adminToken
            let batch = """
                apiVersion: tarmac.dev/v1alpha1
                kind: BatchJob
                metadata: {name: crunch, team: platform, env: dev, owner: ops@acme.example}
                spec:
                  size: cpu-small
                  tasks: 2
                  parallelism: 2
                  image: docker.io/library/python:3.12-slim
                  command: [python3, -c, "import os, time\\nprint('attempt', os.environ['TARMAC_ATTEMPT'], flush=True)\\ntime.sleep(3)"]

                """
            let serve = """
                apiVersion: tarmac.dev/v1alpha1
                kind: InferenceService
                metadata: {name: serve, team: platform, env: dev, owner: ops@acme.example}
                spec:
                  size: cpu-small
                  model: echo@1
                  image: docker.io/library/python:3.12-slim
                  command: [python3, -c, "import time\\ntime.sleep(60)"]
                  replicas: 1
                  port: 8080

                """
            #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: batch).0 == 201)
            _ = try await server.waitFor("crunch") { $0["state"] as? String == "running" }
            #expect(try await server.http(.POST, "/v1/workloads", token: admin, body: serve).0 == 201)
            let preempted = try await server.waitFor("crunch") { ($0["message"] as? String)?.contains("preempted by") == true }
            #expect(preempted["state"] as? String != "failed", "\(preempted)")
            _ = try await server.waitFor("serve") { $0["state"] as? String == "running" }
            let audit = try server.cli(["audit", "list", "-o", "json"]).stdout
            #expect(audit.contains("\"action\" : \"preempt\""), "\(audit.suffix(2000))")
            // The batch waits while the service holds the CPU, then runs again from the queue once it is cancelled.
            let why = try server.cli(["why", "crunch"]).stdout
            #expect(why.contains("queued"), "\(why)")
            #expect(try server.cli(["cancel", "serve"]).status == 0)
            let done = try await server.waitFor("crunch") { $0["state"] as? String == "succeeded" }
            #expect(done["attempt"] as? Int == 2, "\(done)")
            #expect(try server.cli(["logs", "crunch"]).stdout == "attempt 2\n")
        }
    }
}
