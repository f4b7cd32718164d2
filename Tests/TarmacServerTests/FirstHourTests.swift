import AsyncHTTPClient
import Foundation
import Testing
import TarmacTesting
import TarmacWorkdir

extension ServerTests {
/// A data scientist's first hour, with the real server, the real CLI and real processes: their code reaches the pod,
/// nothing waits in silence, failures say what to change, services do not collide, the CLI fails fast and right.
@Suite struct FirstHourTests {
    func metric(_ server: TestServer, _ name: String) async throws -> Double {
        let text = String(decoding: try await server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func theWorkdirReachesThePodAndAnUnchangedOneIsNotSentAgain() async throws {
        let server = try TestServer()
        try await server.start()
        let project = server.dir.path + "/project"
        try server.dir.write("project/train.py", "import os\nprint('train.py ran in', os.path.basename(os.getcwd()), sorted(os.listdir('.')), flush=True)\n")
        try server.dir.write("project/lib/util.py", "X = 1\n")
        try server.dir.write("project/.gitignore", "data/\n*.ckpt\n")
        try server.dir.write("project/.tarmacignore", "notes.txt\n")
        try server.dir.write("project/data/big.bin", String(repeating: "x", count: 200_000))
        try server.dir.write("project/old.ckpt", "ignored")
        try server.dir.write("project/notes.txt", "ignored too")
        let job = try server.dir.write("project/job.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: TrainingJob
            metadata: {name: from-workdir, team: search, env: dev, owner: alice@acme.example}
            spec:
              size: cpu-small
              image: docker.io/library/python:3.12-slim
              command: [python3, train.py]
              workdir: .
              maxDuration: 10m
            """)
        let first = try server.cli(["submit", "--wait", job])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("workdir .: 5 files") && first.stderr.contains(": sent"), "\(first.stderr)")
        let logs = try server.cli(["logs", "from-workdir"]).stdout
        #expect(logs.contains("train.py ran in work ['.gitignore', '.tarmacignore', 'job.yaml', 'lib', 'train.py']"), "\(logs)")
        // What a Kubernetes pod's init container fetches: the same archive, by the workload.
        let (code, tar) = try await server.http(.GET, "/v1/workloads/from-workdir/workdir", token: try server.adminToken)
        let expected = try WorkdirPacker.pack(project).digest
        #expect(code == 200 && WorkdirPacker.digest(of: tar) == expected)
        #expect(try await server.http(.GET, "/v1/workloads/from-workdir/workdir", token: "tck_" + String(repeating: "0", count: 64)).0 == 401)
        // Another team's member reaches neither its code nor its checkpoints: answered as if it did not exist.
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        #expect(try await server.http(.GET, "/v1/workloads/from-workdir/workdir", token: ads).0 == 404)
        #expect(try await server.http(.POST, "/v1/workloads/from-workdir/checkpoint", token: ads, body: "{\"step\": 1}").0 == 404)
        let received = try await metric(server, "tarmac_workdir_bytes_received_total")
        #expect(received > 0 && received < 100_000, "the ignored data was not sent: \(received) bytes")

        // The same directory again (another workload, --workdir from the command line): nothing is sent.
        let again = try server.cli(["submit", "--wait", "--workdir", project, try server.dir.write("again.yaml", Doc.training("again", script: "import lib.util; print('imported', lib.util.X)"))])
        #expect(again.status == 0 && again.stderr.contains("unchanged, not sent"), "\(again.stderr)")
        #expect(try await metric(server, "tarmac_workdir_bytes_received_total") == received, "no file bytes the second time")
        #expect(try server.cli(["logs", "again"]).stdout == "imported 1\n")

        // A document that names a workdir but comes without one (raw API) is refused, saying how to send it.
        let raw = try await server.json(.POST, "/v1/workloads", token: try server.adminToken,
                                        body: String(decoding: FileManager.default.contents(atPath: job)!, as: UTF8.self).replacingOccurrences(of: "from-workdir", with: "raw"))
        #expect(raw.0 == 422)
        let texts = ((raw.1["error"] as? [String: Any])?["diagnostics"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? []
        #expect(texts.contains { $0.contains("spec.workdir") && $0.contains("tarmac submit") }, "\(texts)")
    }

    @Test func deadlinesAndMissingCommandsSayWhatToChangeAndAreNotRetried() async throws {
        let server = try TestServer()
        try await server.start()
        let slow = try server.dir.write("slow.yaml", Doc.training("slow", script: "import time\ntime.sleep(60)", maxDuration: "2s"))
        #expect(try server.cli(["submit", "--wait", slow]).status == 1)
        let why = try server.cli(["why", "slow"]).stdout
        #expect(why.contains("[DeadlineExceeded]") && why.contains("maxDuration of 2s") && why.contains("raise spec.maxDuration"), "\(why)")
        let json = try JSONSerialization.jsonObject(with: Data(try server.cli(["why", "-o", "json", "slow"]).stdout.utf8)) as? [String: Any]
        let facts = json?["facts"] as? [String: Any]
        #expect(facts?["maxDurationSeconds"] as? Int == 2 && (facts?["ranSeconds"] as? Int ?? 0) >= 2, "\(json ?? [:])")

        let missing = try server.dir.write("missing.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: BatchJob
            metadata: {name: typo, team: platform, env: dev, owner: ops@acme.example}
            spec:
              size: cpu-small
              maxRetries: 3
              image: docker.io/library/python:3.12-slim
              command: [pyhton3, train.py]
            """)
        #expect(try server.cli(["submit", "--wait", missing]).status == 1)
        let w = try await server.waitFor("typo") { $0["state"] as? String == "failed" }
        #expect(w["cause"] as? String == "CommandNotFound" && w["attempt"] as? Int == 1, "a deterministic failure is not retried: \(w)")
        #expect((w["message"] as? String)?.contains("spec.command") == true, "\(w)")
    }

    @Test func twoReplicasServeOnPortsOfTheirOwnAndGetShowsBoth() async throws {
        let server = try TestServer()
        try await server.start()
        let doc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: web, team: platform, env: dev, owner: ops@acme.example}
            spec:
              size: cpu-small
              model: echo@1
              image: docker.io/library/python:3.12-slim
              command: [sh, -c, 'exec python3 -m http.server "$PORT" --bind 127.0.0.1']
              replicas: 2
              port: 8080
            """
        #expect(try server.cli(["submit", try server.dir.write("web.yaml", doc)]).status == 0)
        let w = try await server.waitFor("web") { ($0["endpoints"] as? [String])?.count == 2 && $0["state"] as? String == "running" }
        let endpoints = try #require(w["endpoints"] as? [String])
        #expect(Set(endpoints).count == 2 && !endpoints.contains { $0.hasSuffix(":\(server.port)") && !$0.contains("127.0.0.1:\(server.port)0") })
        #expect(!endpoints.contains("http://127.0.0.1:\(server.port)"), "never the server's own port")
        for url in endpoints {
            var served = false
            for _ in 0..<50 where !served {
                if let r = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)), r.status.code == 200 { served = true } else {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(served, "\(url) answers")
        }
        #expect(try server.cli(["get", "web"]).stdout.contains(endpoints.joined(separator: " ")))
        #expect(try server.cli(["cancel", "--wait", "web"]).status == 0)
    }

    @Test func theCLIFailsFastKeepsAContextPerServerAndSubmitsEveryDocument() async throws {
        let first = try TestServer()
        try await first.start()
        let second = try TestServer()
        second.sharedCredentials = first.credentials
        try await second.start()
        // The second server did not take the CLI over: the first is still current, the second is one --context away.
        #expect(second.serverLog.contains("the CLI still uses context 127.0.0.1:\(first.port)"), "\(second.serverLog)")
        let file = try first.dir.write("two.yaml", Doc.batch("one", script: "print(1)") + "---\n# the second\n" + Doc.batch("two", script: "print(2)"))
        let both = try first.cli(["submit", file])
        #expect(both.status == 0 && both.stdout.contains("2 of 2 workloads submitted"), "\(both.stdout) \(both.stderr)")
        #expect(try first.cli(["get", "two"]).status == 0)
        #expect(try first.cli(["get", "--context", "127.0.0.1:\(second.port)", "two"]).status == 3, "the second server has none")
        let broken = try first.dir.write("broken.yaml", Doc.batch("three", script: "print(3)") + "---\n" + Doc.batch("four", script: "print(4)").replacingOccurrences(of: "tasks: 1", with: "taks: 1"))
        let partly = try first.cli(["submit", "--context", "127.0.0.1:\(second.port)", broken])
        #expect(partly.status == 1 && partly.stdout.contains("1 of 2 workloads submitted"), "\(partly.stdout)")
        #expect(partly.stderr.contains("\(broken):") && partly.stderr.contains("taks"), "diagnostics point into the file at the right line: \(partly.stderr)")
        let text = try String(contentsOfFile: broken, encoding: .utf8)
        let n = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("taks") }) + 1
        #expect(partly.stderr.contains("broken.yaml:\(n):"), "the line in the file (\(n)), not in the document: \(partly.stderr)")
        #expect(try first.cli(["get", "--context", "127.0.0.1:\(second.port)", "three"]).status == 0)

        // A stopped server: exit 5 at once, with a clean message.
        first.stop(signal: SIGKILL)
        let start = ContinuousClock.now
        let down = try first.cli(["list"])
        #expect(down.status == 5 && ContinuousClock.now - start < .seconds(3), "\(down.status) after \(ContinuousClock.now - start)")
        #expect(down.stderr.contains("cannot reach the Tarmac server at http://127.0.0.1:\(first.port): connection refused."), "\(down.stderr)")
        #expect(down.stderr.filter { $0 == "(" }.count == down.stderr.filter { $0 == ")" }.count)
        // A usage error exits with 2, as documented; help shows defaults as users write them.
        #expect(try first.cli(["logs", "--all", "--pod", "1", "x"]).status == 2)
        #expect(!(try first.cli(["list", "--help"]).stdout.contains("OutputFormatOption")))
    }

    @Test func aBrokenContractReloadKeepsTheRunningOne() async throws {
        let server = try TestServer()
        try server.usePlatform(appendingToSpec: "")
        server.platform = server.dir.path + "/platform/platform.yaml"
        try await server.start()
        let pid = try #require(server.process?.processIdentifier)
        let original = try String(contentsOfFile: server.platform, encoding: .utf8)
        try original.replacingOccurrences(of: "weight: 2", with: "weight: heavy").write(toFile: server.platform, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        for _ in 0..<50 where !server.serverLog.contains("running one stays in force") { try await Task.sleep(for: .milliseconds(100)) }
        #expect(server.serverLog.contains("running one stays in force"), "\(server.serverLog)")
        #expect(server.serverLog.contains("platform.yaml:") && server.serverLog.contains("heavy"), "the problem is logged with its place")
        #expect(try await server.http(.GET, "/healthz", token: nil).0 == 200, "still serving")
        // A good edit is put in force: a new priority shows in the platform at once.
        try original.replacingOccurrences(of: "  environments:", with: "  priorities: {urgent: 5000}\n  environments:")
            .write(toFile: server.platform, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        for _ in 0..<50 where !server.serverLog.contains("platform contract reloaded") { try await Task.sleep(for: .milliseconds(100)) }
        let platform = try await server.json(.GET, "/v1/platform", token: try server.adminToken).1
        #expect((platform["priorities"] as? [String: Any])?["urgent"] as? Int == 5000, "\(platform)")
    }
}
}
