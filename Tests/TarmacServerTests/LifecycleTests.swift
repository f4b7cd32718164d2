import Foundation
import Testing
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The control plane end to end: real server, real CLI, real processes, real SQLite.
extension ServerTests {
@Suite struct LifecycleTests {
    @Test func submitRunsARealProcessToSuccessWithLogs() async throws {
        let server = try TestServer()
        try await server.start()
        let script = "import os, time\nprint('pid', os.getpid(), flush=True)\ntime.sleep(2)\nprint('identity', os.environ['TARMAC_WORKLOAD_IDENTITY'])\nprint('done')"
        let file = try server.dir.write("job.yaml", Doc.training("hello", script: script))
        let submitted = try server.cli(["submit", "-o", "json", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["id"] as? String)

        // Running means a real process: the pod's own PID, printed by the pod, is alive.
        let running = try await server.waitFor(id) { $0["state"] as? String == "running" }
        #expect(running["attempt"] as? Int == 1)
        var pid: pid_t?
        for _ in 0..<50 where pid == nil {
            let logs = try server.cli(["logs", id])
            pid = logs.stdout.split(separator: "\n").first { $0.hasPrefix("pid ") }.flatMap { pid_t($0.dropFirst(4)) }
            if pid == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let podPID = try #require(pid)
        #expect(kill(podPID, 0) == 0, "the pod process should be alive while the workload is running")

        let done = try await server.waitFor(id) { ($0["state"] as? String).map { ["succeeded", "failed"].contains($0) } ?? false }
        #expect(done["state"] as? String == "succeeded", "\(done)")
        #expect(kill(podPID, 0) != 0, "the pod process is gone once it succeeded")
        let logs = try server.cli(["logs", "hello"])
        #expect(logs.stdout.hasSuffix("identity spiffe://acme/team/search/env/dev/trainingjob/hello\ndone\n"), "\(logs.stdout)")

        // The trail shows each transition, by the right kind of actor.
        let audit = try server.cli(["audit", "list", "-o", "json"])
        let items = try #require((try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])?["items"] as? [[String: Any]])
        let mine = items.filter { $0["object"] as? String == "workload/\(id)" }
        #expect(mine.map { "\($0["actorKind"]!):\($0["action"]!)" } == ["user:submit", "system:admit", "system:run", "system:succeed"])
        let list = try server.cli(["list"])
        #expect(list.stdout.contains("hello") && list.stdout.contains("succeeded"), "\(list.stdout)")
    }

    @Test func waitExitCodesFollowTheOutcome() async throws {
        let server = try TestServer()
        try await server.start()
        let ok = try server.cli(["submit", "--wait", try server.dir.write("ok.yaml", Doc.training("ok", script: "print('fine')"))])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("ok: succeeded"), "\(ok.stderr)")
        let bad = try server.cli(["submit", "--wait", try server.dir.write("bad.yaml", Doc.batch("bad", script: "import sys\nprint('boom', flush=True)\nsys.exit(3)"))])
        #expect(bad.status == 1, "\(bad.stderr)")
        let why = try server.cli(["why", "bad"])
        #expect(why.stdout.contains("[ApplicationError]") && why.stdout.contains("exited with code 3") && why.stdout.contains("boom"), "\(why.stdout)")
    }

    /// `logs?follow=true` streams a running pod's output as it is written (the local backend wakes the follower when the
    /// log grows) and ends when the workload does, with every line.
    @Test func followStreamsTheLogUntilTheWorkloadEnds() async throws {
        let server = try TestServer()
        try await server.start()
        let token = try server.adminToken
        let script = "import time\nprint('one', flush=True)\ntime.sleep(1.5)\nprint('two', flush=True)\ntime.sleep(1.5)\nprint('three', flush=True)"
        let (status, w) = try await server.json(.POST, "/v1/workloads", token: token, body: Doc.training("chatty", script: script))
        #expect(status == 201)
        let id = try #require(w["id"] as? String)
        _ = try await server.waitFor(id) { $0["state"] as? String == "running" }
        let (code, body) = try await server.http(.GET, "/v1/workloads/\(id)/logs?follow=true", token: token)
        #expect(code == 200 && String(decoding: body, as: UTF8.self) == "one\ntwo\nthree\n", "\(String(decoding: body, as: UTF8.self))")
        let (_, after) = try await server.json(.GET, "/v1/workloads/\(id)", token: token)
        #expect(after["state"] as? String == "succeeded", "the stream ends with the workload: \(after)")
    }

    @Test func cancelStopsARunningProcess() async throws {
        let server = try TestServer()
        try await server.start()
        let file = try server.dir.write("sleep.yaml", Doc.training("sleepy", script: "import time\nprint('sleeping', flush=True)\ntime.sleep(120)"))
        #expect(try server.cli(["submit", file]).status == 0)
        _ = try await server.waitFor("sleepy") { $0["state"] as? String == "running" }
        try await eventually("its supervisor runs") { !server.liveSupervisors().isEmpty }
        let started = ContinuousClock.now
        let c = try server.cli(["cancel", "--wait", "sleepy"])
        #expect(c.status == 0, "\(c.stderr)")
        let w = try await server.waitFor("sleepy") { $0["state"] as? String == "cancelled" }
        #expect(w["cancelRequested"] as? Bool == true)
        #expect(ContinuousClock.now - started < .seconds(30))
        try await eventually("no supervisor (and so no pod) survives a cancel", timeout: .seconds(5)) { server.liveSupervisors().isEmpty }
        // Cancelling a queued workload ends it at once: two jobs hold both CPUs, a third waits and is cancelled.
        for name in ["hold-1", "hold-2", "waits"] {
            let f = try server.dir.write("\(name).yaml", Doc.training(name, script: "import time\ntime.sleep(120)"))
            #expect(try server.cli(["submit", f]).status == 0)
        }
        _ = try await server.waitFor("hold-2") { $0["state"] as? String == "running" }
        #expect(try await server.json(.GET, "/v1/workloads/waits", token: try server.adminToken).1["state"] as? String == "queued")
        #expect(try server.cli(["cancel", "waits"]).stdout.contains("cancelled"))
        for name in ["hold-1", "hold-2"] { #expect(try server.cli(["cancel", "--wait", name]).status == 0) }
        // A workload this machine can never run is refused at submit, with what the machine has.
        let gpu = try server.dir.write("gpu.yaml", Doc.training("wants-gpu", size: "small", script: "print(1)"))
        let refused = try server.cli(["submit", gpu])
        #expect(refused.status == 1 && refused.stderr.contains("cannot start here: this machine has no l4 GPUs (it has: none)"), "\(refused.stderr)")
    }

    @Test func memoryOverTheSizeIsKilledAndTriagedAsOutOfMemory() async throws {
        let server = try TestServer()
        try await server.start()
        // cpu-small batch is 512Mi; this touches 900 MiB.
        let file = try server.dir.write("hog.yaml", Doc.batch("hog", script: "import time\nx = b'x' * (900 << 20)\nprint('allocated', flush=True)\ntime.sleep(30)"))
        let r = try server.cli(["submit", "--wait", file])
        #expect(r.status == 1, "\(r.stderr)")
        let w = try await server.waitFor("hog") { $0["state"] as? String == "failed" }
        #expect(w["cause"] as? String == "OutOfMemory", "\(w)")
        #expect((w["message"] as? String)?.contains("over its size's limit of 512Mi") == true, "\(w)")
        #expect(w["attempt"] as? Int == 1, "out of memory at the same size is not retried")
    }

    @Test func killedServerRestartsWithoutLosingOrDuplicatingWork() async throws {
        let server = try TestServer()
        try await server.start()
        let token = try server.adminToken
        let script = "import time, os\nprint('start', flush=True)\ntime.sleep(4)\nprint('end', flush=True)"
        let doc = Doc.training("survivor", script: script)
        let (s1, first) = try await server.json(.POST, "/v1/workloads", token: token, body: doc, headers: [("Idempotency-Key", "k-1")])
        #expect(s1 == 201)
        let id = try #require(first["id"] as? String)
        let victim = Doc.training("victim", script: "import time\nprint('victim', flush=True)\ntime.sleep(60)")
        let (sv, v) = try await server.json(.POST, "/v1/workloads", token: token, body: victim)
        #expect(sv == 201)
        let victimID = try #require(v["id"] as? String)
        // The survivor and the victim hold both CPUs: this one waits in the queue across the restart.
        let waiting = Doc.training("cpu-waits", script: "print(1)")
        #expect(try await server.json(.POST, "/v1/workloads", token: token, body: waiting).0 == 201)
        _ = try await server.waitFor(id) { $0["state"] as? String == "running" }
        _ = try await server.waitFor("victim") { $0["state"] as? String == "running" }
        try await eventually("both pods run under their supervisors") {
            try FileManager.default.fileExists(atPath: server.data + "/pods/\(victimID)/1/0/supervisor.pid") && server.cli(["logs", id]).stdout.contains("start")
        }

        server.stop(signal: SIGKILL)
        // While the control plane is down, one pod dies with its supervisor: nothing is left to say how it ended.
        let victimDir = server.data + "/pods/" + victimID
        let victimPID = try #require(pid_t(try String(contentsOfFile: victimDir + "/1/0/supervisor.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(-victimPID, SIGKILL)  // its session: supervisor and pod
        kill(victimPID, SIGKILL)

        try await server.start()
        let again = try await server.json(.POST, "/v1/workloads", token: token, body: doc, headers: [("Idempotency-Key", "k-1")])
        #expect(again.0 == 200 && again.1["id"] as? String == id, "a retried submit returns the same workload")
        let done = try await server.waitFor(id) { $0["state"] as? String == "succeeded" }
        #expect(done["attempt"] as? Int == 1, "re-attached, not restarted: \(done)")
        let logs = try server.cli(["logs", id]).stdout
        #expect(logs == "start\nend\n", "ran exactly once: \(logs)")
        let retried = try await server.waitFor("victim") { ($0["attempt"] as? Int ?? 0) >= 2 && $0["state"] as? String == "running" }
        #expect(retried["cause"] as? String == "LostOnRestart", "\(retried)")
        let waited = try await server.waitFor("cpu-waits") { $0["state"] as? String == "succeeded" }
        #expect(waited["attempt"] as? Int == 1, "queued across the restart, then ran once: \(waited)")
        let list = try await server.json(.GET, "/v1/workloads", token: token)
        #expect((list.1["items"] as? [[String: Any]])?.count == 3, "nothing duplicated")
        #expect(try server.cli(["cancel", "victim"]).status == 0)
        #expect(try server.cli(["audit", "verify"]).status == 0)
    }

    @Test func gracefulShutdownLeavesRunningWorkToTheNextStart() async throws {
        let server = try TestServer()
        try await server.start()
        let file = try server.dir.write("j.yaml", Doc.training("calm", script: "import time\ntime.sleep(4)\nprint('ok', flush=True)"))
        #expect(try server.cli(["submit", file]).status == 0)
        _ = try await server.waitFor("calm") { $0["state"] as? String == "running" }
        for _ in 0..<50 where server.liveSupervisors().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        server.stop(signal: SIGTERM)
        #expect(server.serverLog.contains("stopped; running workloads keep running"), "\(server.serverLog)")
        #expect(!server.liveSupervisors().isEmpty, "the pod keeps running while the control plane is stopped")
        try await server.start()
        let w = try await server.waitFor("calm") { $0["state"] as? String == "succeeded" }
        #expect(w["attempt"] as? Int == 1)
    }
}
}
