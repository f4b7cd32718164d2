import Foundation
import Synchronization
import TarmacTesting
import Testing

extension ServerTests {
/// Rollouts end to end: a real `tarmac up` with its inference gateway, the OpenAI-compatible stub as the model server
/// (each version a local pod), a client calling throughout. A canary told to fail is rolled back after its analysis
/// window; a healthy one is promoted through every step; `tarmac rollback` puts every request back on the warm previous
/// version at once, with no failed request.
@Suite struct RolloutTests {
    /// Every answer a client saw: when, the status, which version.
    final class Load: Sendable {
        struct Seen: Sendable {
            var at: Date
            var status: Int
            var version: String?
        }
        let seen = Mutex<[Seen]>([])
        let running = Mutex(true)
        func stop() { running.withLock { $0 = false } }
        func answers(since t: Date) -> [Seen] { seen.withLock { $0.filter { $0.at >= t } } }

        func run(_ url: String, token: String) async {
            while running.withLock({ $0 }) {
                let r = try? await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                                                                body: #"{"prompt": "rank"}"#)
                seen.withLock { $0.append(Seen(at: Date(), status: r?.0 ?? 0, version: r?.1)) }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// A started `tarmac up` with its inference gateway, serving `ranker` (the stub, ranker@1.0.0) to a member of team
    /// search: the server, the member's token, the service's completions URL at the gateway, the gateway's port.
    static func servingRanker() async throws -> (TestServer, String, String, Int) {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort)])
        try await server.start()
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        try InferenceServingTests.serveStub(server, token: member)
        let url = "http://127.0.0.1:\(inferencePort)/search/ranker/v1/completions"
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)")], body: "{}").0) == 200
        }
        return (server, member, url, inferencePort)
    }

    static func view(_ server: TestServer, _ token: String) async throws -> [String: Any] {
        try await server.json(.GET, "/v1/rollouts/ranker", token: token).1
    }

    @Test func aFailingCanaryIsRolledBackAHealthyOneIsPromotedAndRollbackIsOneStep() async throws {
        let (server, member, url, _) = try await Self.servingRanker()
        let admin = try server.adminToken
        let load = Load()
        let client = Task { await load.run(url, token: member) }
        defer { load.stop(); client.cancel() }

        // 1. A canary at 10% that fails: rolled back when its analysis window ends.
        let started = Date()
        var r = try server.cli(["rollout", "start", "ranker", "--to", "2.0.0", "--steps", "10,analysis 4s,50,analysis 4s", "--min-success-rate", "0.95",
                                "--min-requests", "10"], token: member)
        #expect(r.status == 0 && r.stdout.contains("ranker@2.0.0"), "\(r.stdout)\(r.stderr)")
        try await eventually("the canary takes its share", timeout: .seconds(60)) { (try await Self.view(server, member))["phase"] as? String == "analyzing" }
        let analysing = Date()
        let canary = try await server.json(.GET, "/v1/workloads/ranker-2-0-0", token: member).1
        let endpoint = try #require((canary["endpoints"] as? [String])?.first)
        #expect(try await TestServer.requestWithHeaders(.POST, endpoint + "/control", body: #"{"fail": true}"#).0 == 200)
        try await eventually("the canary is rolled back", timeout: .seconds(30)) { (try await Self.view(server, member))["phase"] as? String == "rolledBack" }
        let rolledBack = Date()
        let v = try await Self.view(server, member)
        #expect((v["message"] as? String)?.contains("analysis failed: success rate") == true, "\(v)")
        // Told apart: the canary's own 5xx, the model's side.
        #expect((v["message"] as? String)?.contains("infrastructure-side: 0)") == true && (v["message"] as? String)?.contains("(model-side: ") == true, "\(v)")
        #expect(v["weights"] as? [String: Int] == ["1.0.0": 100, "2.0.0": 0])
        // Within 10 s of the end of the failing window (4 s after the share moved).
        #expect(rolledBack.timeIntervalSince(analysing) < 4 + 10, "rolled back \(rolledBack.timeIntervalSince(analysing)) s after the canary took its share")
        // What clients saw in the meantime: no more errors than the canary's share.
        let during = load.answers(since: started).filter { $0.at <= rolledBack }
        let failed = during.filter { $0.status != 200 }.count
        #expect(during.count > 50 && Double(failed) <= 0.13 * Double(during.count), "\(failed) of \(during.count) requests failed during the canary")
        try await eventually("every request is on 1.0.0 again") {
            let recent = load.answers(since: Date().addingTimeInterval(-0.5))
            return !recent.isEmpty && recent.allSatisfy { $0.version == "ranker@1.0.0" }
        }
        try await eventually("the failed canary is let go", timeout: .seconds(30)) {
            (try await server.json(.GET, "/v1/workloads/ranker-2-0-0", token: member).1)["state"] as? String == "cancelled"
        }

        // 2. A healthy one goes through every step to 100%.
        r = try server.cli(["rollout", "start", "ranker", "--to", "3.0.0", "--steps", "10,analysis 2s,50,analysis 2s", "--min-success-rate", "0.95",
                            "--min-requests", "10"], token: member)
        #expect(r.status == 0, "\(r.stderr)")
        try await eventually("the new version is promoted", timeout: .seconds(90)) { (try await Self.view(server, member))["phase"] as? String == "promoted" }
        let promoted = Date()
        try await eventually("every request is on 3.0.0") {
            let recent = load.answers(since: Date().addingTimeInterval(-0.5))
            return !recent.isEmpty && recent.allSatisfy { $0.version == "ranker@3.0.0" }
        }
        #expect((try await Self.view(server, member))["previousWarm"] as? Bool == true)

        // 3. tarmac rollback with a warm target: every request on 1.0.0 within a second, none failed.
        let asked = Date()
        r = try server.cli(["rollback", "ranker"], token: member)
        #expect(r.status == 0 && r.stdout.contains("rolledBack"), "\(r.stdout)\(r.stderr)")
        try await eventually("every request is on 1.0.0 after the rollback", timeout: .seconds(5)) {
            let after = load.answers(since: Date().addingTimeInterval(-0.3))
            return !after.isEmpty && after.allSatisfy { $0.version == "ranker@1.0.0" }
        }
        let switched = load.answers(since: asked).first { $0.version == "ranker@1.0.0" }?.at
        let took = try #require(switched).timeIntervalSince(asked)
        #expect(took < 1, "the first request on 1.0.0 came \(took) s after tarmac rollback")
        let lastOnNew = load.answers(since: asked).last { $0.version == "ranker@3.0.0" }?.at ?? asked
        #expect(lastOnNew.timeIntervalSince(asked) < 1, "requests still went to 3.0.0 \(lastOnNew.timeIntervalSince(asked)) s after")
        let throughout = load.answers(since: promoted)
        #expect(throughout.allSatisfy { $0.status == 200 }, "failed requests around the rollback: \(throughout.filter { $0.status != 200 }.count)")
        print("rollback (warm): first request on the previous version \(String(format: "%.3f", took)) s after tarmac rollback was run")

        // The audit trail: who started, each step with its figures, the automatic rollback, the promotion, who rolled back.
        let (_, audit) = try await server.json(.GET, "/v1/audit?limit=1000", token: admin)
        let rows = (audit["items"] as? [[String: Any]] ?? []).filter { ($0["action"] as? String)?.hasPrefix("rollout-") == true }
        let actions = rows.map { "\($0["action"] ?? "")" }
        #expect(actions.filter { $0 == "rollout-start" }.count >= 2 && actions.contains("rollout-promote") && actions.filter { $0 == "rollout-rollback" }.count == 2,
                "\(actions)")
        #expect(rows.contains { ($0["detail"] as? String)?.contains("analysis failed: success rate") == true })
        #expect(rows.contains { $0["action"] as? String == "rollout-rollback" && $0["actorID"] as? String == "member-search" })
    }

    /// After the rollback window the previous version has been let go: `tarmac rollback` starts it again, every request
    /// goes back to it once it serves, and the status says how long that took.
    @Test func aRollbackAfterTheWindowIsColdAndSaysHowLongItTook() async throws {
        let (server, member, url, _) = try await Self.servingRanker()
        var r = try server.cli(["rollout", "start", "ranker", "--to", "2.0.0", "--steps", "100", "--rollback-window", "1s"], token: member)
        #expect(r.status == 0, "\(r.stderr)")
        try await eventually("promoted", timeout: .seconds(60)) { (try await Self.view(server, member))["phase"] as? String == "promoted" }
        // The window (1 s) closes and the previous version is let go (after its drain).
        try await eventually("the previous version is let go", timeout: .seconds(30)) {
            (try await server.json(.GET, "/v1/workloads/ranker", token: member).1)["state"] as? String == "cancelled"
        }
        #expect((try await Self.view(server, member))["previousWarm"] as? Bool == false)
        let asked = Date()
        r = try server.cli(["rollback", "ranker"], token: member)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try await eventually("every request is on 1.0.0 again", timeout: .seconds(60)) {
            let a = try await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)")], body: "{}")
            return a.0 == 200 && a.1 == "ranker@1.0.0"
        }
        let back = Date().timeIntervalSince(asked)
        let v = try await Self.view(server, member)
        let cold = try #require(v["coldStartSeconds"] as? Double, "\(v)")
        #expect(cold > 0 && cold <= back + 0.5, "cold start \(cold) s, requests back after \(back) s")
        r = try server.cli(["rollout", "status", "ranker"], token: member)
        #expect(r.stdout.contains("cold start") && r.stdout.contains("until the previous version served again"), "\(r.stdout)")
        print("rollback (cold): requests on the previous version \(String(format: "%.2f", back)) s after tarmac rollback; status: \(String(format: "%.2f", cold)) s")
    }

    /// A rollout is kept in the data directory: killed mid-rollout and started again, `tarmac up` still splits the
    /// service 70/30 (the canary is not routed as a service of its own), `rollout status` says where it was, and
    /// `rollout promote` takes it on from there; the version let go is then cancelled.
    @Test func aRolloutGoesOnWhereItWasAfterARestart() async throws {
        let (server, member, url, inferencePort) = try await Self.servingRanker()
        func call() async throws -> (Int, String?) {
            let a = try await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)")], body: "{}")
            return (a.0, a.1)
        }
        let r = try server.cli(["rollout", "start", "ranker", "--to", "2.0.0", "--steps", "30,pause"], token: member)
        #expect(r.status == 0, "\(r.stderr)")
        try await eventually("paused at 30%", timeout: .seconds(60)) {
            let v = try await Self.view(server, member)
            return v["phase"] as? String == "paused" && v["weights"] as? [String: Int] == ["1.0.0": 70, "2.0.0": 30]
        }

        server.stop(signal: SIGKILL)
        try await server.start()
        let v = try await Self.view(server, member)
        #expect(v["phase"] as? String == "paused" && v["weights"] as? [String: Int] == ["1.0.0": 70, "2.0.0": 30], "\(v)")
        // The pods outlived the server; once the gateway sees them again it splits as before.
        try await eventually("both versions answer again", timeout: .seconds(60)) {
            var seen = Set<String>()
            for _ in 0..<20 { if let (code, version) = try? await call(), code == 200, let version { seen.insert(version) } }
            return seen == ["ranker@1.0.0", "ranker@2.0.0"]
        }
        var versions: [String] = []
        for _ in 0..<200 { versions.append((try await call()).1 ?? "none") }
        let onNew = versions.filter { $0 == "ranker@2.0.0" }.count
        #expect(versions.allSatisfy { $0 == "ranker@1.0.0" || $0 == "ranker@2.0.0" } && (50...70).contains(onNew), "\(onNew) of 200 on 2.0.0")
        let canaryRoute = try await TestServer.requestWithHeaders(.POST, "http://127.0.0.1:\(inferencePort)/search/ranker-2-0-0/v1/completions",
                                                                headers: [("Authorization", "Bearer \(member)")], body: "{}")
        #expect(canaryRoute.0 == 404, "the canary is reached through its service only")

        let p = try server.cli(["rollout", "promote", "ranker"], token: member)
        #expect(p.status == 0, "\(p.stdout)\(p.stderr)")
        try await eventually("every request on 2.0.0") {
            var all: [String?] = []
            for _ in 0..<10 { all.append((try await call()).1) }
            return all.allSatisfy { $0 == "ranker@2.0.0" }
        }
        #expect((try await Self.view(server, member))["phase"] as? String == "promoted")
    }

    /// Blue-green: the new version takes no share while it is measured, only the requests that ask for it
    /// (`X-Tarmac-Version`); healthy, every request switches to it at once; failing, it is rolled back and no other
    /// request ever reached it.
    @Test func aBlueGreenRolloutIsMeasuredOnPreviewRequestsThenSwitches() async throws {
        let (server, member, url, _) = try await Self.servingRanker()
        func preview(_ version: String) async throws -> (Int, String?) {
            let a = try await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)"), ("X-Tarmac-Version", version)], body: "{}")
            return (a.0, a.1)
        }
        let load = Load()
        let client = Task { await load.run(url, token: member) }
        defer { load.stop(); client.cancel() }
        #expect(try await preview("9.9.9").0 == 404, "a version the service does not route to")

        // Healthy: measured on preview requests only, then every request at once.
        var r = try server.cli(["rollout", "start", "ranker", "--to", "2.0.0", "--blue-green", "--preview-window", "3s", "--min-success-rate", "0.9",
                                "--min-requests", "5"], token: member)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try await eventually("the new version is measured", timeout: .seconds(60)) { (try await Self.view(server, member))["phase"] as? String == "analyzing" }
        let measured = Date()
        var previews: [(status: Int, version: String?)] = []
        while (try await Self.view(server, member))["phase"] as? String == "analyzing" {
            previews.append(try await preview("2.0.0"))
            try await Task.sleep(for: .milliseconds(50))
        }
        let switched = Date()
        let after = try await Self.view(server, member)
        #expect(after["phase"] as? String == "promoted", "\(after)")
        // Every preview that was answered was answered by 2.0.0 (on this loaded 2-core machine a replica's readiness
        // check can miss once, and the gateway then answers 503 for want of a ready replica: that is no routing error).
        let answered = previews.filter { $0.status == 200 }
        #expect(answered.count >= 5 && answered.allSatisfy { $0.version == "ranker@2.0.0" } && previews.allSatisfy { $0.status == 200 || $0.status == 503 }
                && previews.count - answered.count <= 1,
                "\(previews.count) previews: \(previews.map { "\($0.status) \($0.version ?? "none")" })")
        let before = load.answers(since: measured).filter { $0.at < switched.addingTimeInterval(-0.3) }
        #expect(!before.isEmpty && before.allSatisfy { $0.version == "ranker@1.0.0" }, "requests without the header stayed on 1.0.0 while it was measured")
        try await eventually("every request is on 2.0.0") {
            let recent = load.answers(since: Date().addingTimeInterval(-0.5))
            return !recent.isEmpty && recent.allSatisfy { $0.version == "ranker@2.0.0" }
        }

        // Failing: rolled back before any other request reached it.
        r = try server.cli(["rollout", "start", "ranker", "--to", "3.0.0", "--blue-green", "--preview-window", "3s", "--min-success-rate", "0.9",
                            "--min-requests", "5"], token: member)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try await eventually("the new version is measured", timeout: .seconds(60)) { (try await Self.view(server, member))["phase"] as? String == "analyzing" }
        let started = Date()
        let next = try #require((try await server.json(.GET, "/v1/workloads/ranker-3-0-0", token: member).1["endpoints"] as? [String])?.first)
        #expect(try await TestServer.requestWithHeaders(.POST, next + "/control", body: #"{"fail": true}"#).0 == 200)
        while (try await Self.view(server, member))["phase"] as? String == "analyzing" {
            _ = try await preview("3.0.0")
            try await Task.sleep(for: .milliseconds(50))
        }
        let v = try await Self.view(server, member)
        #expect(v["phase"] as? String == "rolledBack" && (v["message"] as? String)?.contains("analysis failed: success rate") == true, "\(v)")
        #expect(load.answers(since: started).allSatisfy { $0.version == "ranker@2.0.0" }, "no request without the header reached 3.0.0")
    }

    /// A rollout written in the document (`spec.rollout`): `tarmac submit` of the service's document with the next model
    /// version starts it, the new version runs that document, and it goes through its steps to promotion; the same
    /// document without `spec.rollout` is refused, saying how. `tarmac review` approves and lists the document.
    @Test func submittingTheDocumentWithAnotherVersionAndARolloutRollsItOut() async throws {
        let (server, member, url, _) = try await Self.servingRanker()
        let carol = try await SecurityTests.token(server, role: "member", team: "search")
        let text = try String(contentsOfFile: server.dir.url.appendingPathComponent("serve/ranker.yaml").path, encoding: .utf8)
        let bare = try server.dir.write("serve/ranker-2.yaml", text.replacingOccurrences(of: "ranker@1.0.0", with: "ranker@2.0.0"))
        var r = try server.cli(["submit", bare], token: member)
        #expect(r.status != 0 && r.stderr.contains("to move it to ranker@2.0.0 add spec.rollout"), "\(r.stdout)\(r.stderr)")
        let doc = try server.dir.write("serve/ranker-2.yaml", text.replacingOccurrences(of: "ranker@1.0.0", with: "ranker@2.0.0") + """

              rollout:
                steps: ["50", "analysis 2s", "100"]
                rules: [{metric: successRate, threshold: 0.9, minRequests: 5}]
            """)
        r = try server.cli(["review", "approve", doc, "--comment", "steps look right"], token: carol)
        #expect(r.status == 0 && r.stdout.contains("InferenceService search/ranker reviewed by") && r.stdout.contains("sha256:"), "\(r.stdout)\(r.stderr)")
        r = try server.cli(["review", "list", doc], token: member)
        #expect(r.status == 0 && r.stdout.contains("REVIEWED BY") && r.stdout.contains("InferenceService search/ranker"), "\(r.stdout)\(r.stderr)")
        let load = Load()
        let client = Task { await load.run(url, token: member) }
        defer { load.stop(); client.cancel() }
        r = try server.cli(["submit", doc], token: member)
        #expect(r.status == 0 && r.stdout.contains("InferenceService ranker-2-0-0 submitted"), "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("note: rolling out ranker@1.0.0 -> ranker@2.0.0 (canary 50%, analysis 2s, 100%)"), "\(r.stderr)")
        try await eventually("promoted through its steps", timeout: .seconds(90)) { (try await Self.view(server, member))["phase"] as? String == "promoted" }
        try await eventually("every request is on 2.0.0") {
            let recent = load.answers(since: Date().addingTimeInterval(-0.5))
            return !recent.isEmpty && recent.allSatisfy { $0.version == "ranker@2.0.0" && $0.status == 200 }
        }
        let source = try await server.json(.GET, "/v1/workloads/ranker-2-0-0", token: member).1
        #expect(source["submittedBy"] as? String != nil && source["state"] as? String == "running", "\(source)")
    }
}
}
