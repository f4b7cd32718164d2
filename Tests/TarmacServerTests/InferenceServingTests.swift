import Foundation
import TarmacDelivery
import TarmacKubernetesBackend
import TarmacTesting
import Testing

extension ServerTests {
/// A model served by `tarmac up`: an InferenceService running the OpenAI-compatible stub (Tests/Support/model_server.py,
/// sent as its working directory) as a local pod, reached through the inference gateway with a person's token;
/// its answers measured on /metrics.
@Suite struct InferenceServingTests {
    /// Submits `ranker` (model ranker@1.0.0, team search, env dev): the OpenAI-compatible stub sent as its working
    /// directory.
    static func serveStub(_ server: TestServer, token: String, team: String = "search", owner: String = "alice@acme.example") throws {
        try server.dir.write("serve/model_server.py", try String(contentsOfFile: Fixtures.path("Tests/Support/model_server.py"), encoding: .utf8))
        let doc = try server.dir.write("serve/ranker.yaml", """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: ranker, team: \(team), env: dev, owner: \(owner)}
            spec:
              size: cpu-small
              model: ranker@1.0.0
              image: docker.io/library/python:3.12-slim
              command: [python3, model_server.py]
              workdir: .
              port: 8080
            """)
        let submitted = try server.cli(["submit", doc], token: token)
        #expect(submitted.status == 0, "\(submitted.stderr)")
    }

    @Test func anInferenceServiceIsServedThroughTheGatewayAndMeasured() async throws {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort)])
        try await server.start()
        let admin = try server.adminToken
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        try Self.serveStub(server, token: member)
        let gateway = "http://127.0.0.1:\(inferencePort)"
        func call(_ path: String, token: String?, body: String = #"{"prompt": "rank these"}"#) async throws -> (Int, [String: Any], String) {
            var headers: [(String, String)] = [("Content-Type", "application/json")]
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            let (s, d) = try await TestServer.request(.POST, gateway + path, headers: headers, body: body)
            return (s, (try? JSONSerialization.jsonObject(with: d) as? [String: Any]) ?? [:], String(decoding: d, as: UTF8.self))
        }
        // Until its replica listens the gateway says so (503); then it answers as the model it serves.
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await call("/search/ranker/v1/completions", token: member).0) == 200
        }
        for _ in 0..<9 { _ = try await call("/search/ranker/v1/completions", token: member) }
        let (status, answer, _) = try await call("/search/ranker/v1/completions", token: member)
        #expect(status == 200 && answer["model"] as? String == "ranker@1.0.0", "\(answer)")
        let (_, _, streamed) = try await call("/search/ranker/v1/completions", token: member, body: #"{"prompt": "a b c", "stream": true}"#)
        #expect(streamed.contains("data: [DONE]"), "\(streamed)")
        #expect(try await call("/search/ranker/v1/completions", token: nil).0 == 401)
        #expect(try await call("/search/ranker/v1/completions", token: ads).0 == 404)

        // On /metrics: requests by code, durations, time to first token, tokens from usage, per team/service/model/version.
        let (_, m) = try await server.http(.GET, "/metrics", token: nil)
        let metrics = String(decoding: m, as: UTF8.self)
        let labels = #"team="search",service="ranker",model="ranker",version="1.0.0""#
        func value(_ name: String, _ extra: String = "") -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + "{") && $0.contains(labels) && (extra.isEmpty || $0.contains(extra)) }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        #expect((value("tarmac_inference_requests_total", #"code="200""#) ?? 0) >= 11, "\(metrics.split(separator: "\n").filter { $0.contains("inference") })")
        #expect((value("tarmac_inference_prompt_tokens_total") ?? 0) >= 11 * 2 + 3)
        #expect((value("tarmac_inference_completion_tokens_total") ?? 0) >= 11 * 3)
        #expect((value("tarmac_inference_request_duration_seconds_count") ?? 0) >= 11)
        // Refusals before a version was chosen (no token, another team, no replica yet) count under the service alone.
        #expect(metrics.contains(#"tarmac_inference_requests_total{team="search",service="ranker",code="401"}"#), "\(metrics.split(separator: "\n").filter { $0.contains("requests_total") })")
        #expect(value("tarmac_inference_time_to_first_token_seconds_count") == 1)
        // The ledger has them too (within 5 s): tokens, answers and the model's load, against the workload; and
        // /v1/inferenceCost/total sums them per service.
        var line: [String: Any] = [:]
        try await eventually("the ledger counts the service's answers", timeout: .seconds(20)) {
            let report = try await server.json(.GET, "/v1/usage?by=workload,model", token: member).1
            line = ((report["items"] as? [[String: Any]]) ?? []).first { ($0["keys"] as? [String: String])?["model"] == "ranker@1.0.0" } ?? [:]
            return (line["requests"] as? Int ?? 0) >= 12
        }
        #expect((line["promptTokens"] as? Int ?? 0) >= 11 * 2 + 3 && (line["completionTokens"] as? Int ?? 0) >= 11 * 3, "\(line)")
        #expect(line["modelLoads"] as? Int == 1 && (line["modelLoadSecondsMean"] as? Double ?? 0) > 0, "one replica started, its load timed: \(line)")
        let cost = try await server.json(.GET, "/v1/inferenceCost/total?window=today", token: member).1
        let ranker = ((cost["data"] as? [String: Any])?["search/ranker"] as? [String: Any]) ?? [:]
        #expect((ranker["requests"] as? Int ?? 0) >= 12 && (ranker["totalTokens"] as? Int ?? 0) >= 11 * 5 + 3 && ranker["modelLoads"] as? Int == 1, "\(cost)")
        let table = try server.cli(["cost", "--by", "model"], token: member)
        #expect(table.stdout.contains("TOKENS") && table.stdout.contains("MODEL-LOAD") && table.stdout.contains("ranker@1.0.0"), "\(table.stdout)")
        #expect(try await server.http(.GET, "/v1/inferenceCost/total?aggregate=servce", token: member).0 == 400)
        // Another team sees none of it.
        let theirs = try await server.json(.GET, "/v1/inferenceCost/total?window=today", token: ads)
        #expect(theirs.0 == 200 && (theirs.1["data"] as? [String: Any])?["search/ranker"] == nil, "\(theirs.1)")
        let theirUsage = try await server.json(.GET, "/v1/usage?by=model", token: ads).1
        #expect(((theirUsage["items"] as? [[String: Any]]) ?? []).allSatisfy { ($0["keys"] as? [String: String])?["model"] != "ranker@1.0.0" }, "\(theirUsage)")
        // The model server told to fail: its 5xx are counted as the model's side, apart from the infrastructure's.
        let replica = try #require((try await server.json(.GET, "/v1/workloads/ranker", token: member).1["endpoints"] as? [String])?.first)
        #expect(try await TestServer.requestWithHeaders(.POST, replica + "/control", body: #"{"fail": true}"#).0 == 200)
        for _ in 0..<3 { #expect(try await call("/search/ranker/v1/completions", token: member).0 == 500) }
        let after = String(decoding: try await server.http(.GET, "/metrics", token: nil).1, as: UTF8.self)
        let model = after.split(separator: "\n").first { $0.hasPrefix("tarmac_inference_errors_total{") && $0.contains(labels) && $0.contains(#"side="model",reason="model_error""#) }
        #expect(model.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } == 3, "\(after.split(separator: "\n").filter { $0.contains("errors_total") })")
        #expect(!after.contains(#"side="infrastructure",reason="unreachable""#))
        // tarmac why says which side failed, with the counts.
        let why = try server.cli(["why", "ranker"], token: member)
        // (Requests before its replica listened were refused no_replica: the infrastructure's side, counted apart.)
        #expect(why.stdout.contains("[model-side]") && why.stdout.contains("model-side 3, infrastructure-side ") && why.stdout.contains("model_error 3")
                && why.stdout.contains("the latest: model_error"), "\(why.stdout)\(why.stderr)")
        let whyJSON = try await server.json(.GET, "/v1/workloads/ranker/why", token: member).1
        let serving = whyJSON["serving"] as? [String: Any]
        #expect(serving?["modelSide"] as? Int == 3 && (serving?["reasons"] as? [String: Int])?["model_error"] == 3, "\(whyJSON)")
        #expect((serving?["infrastructureSide"] as? Int ?? -1) == (serving?["reasons"] as? [String: Int])?["no_replica"] ?? 0, "\(whyJSON)")
        _ = admin
    }

    /// A workload calls a service with its own identity: its JWT-SVID (from its bootstrap at POST /v1/identity) for
    /// audience inference:search/ranker is let through; one for another service is refused 403 naming the audience to ask
    /// for; a workload of another team, even with the right audience, finds no such service (404); and once the calling
    /// workload ended, its token is refused (401).
    @Test func aWorkloadCallsAServiceWithItsJWTSVID() async throws {
        let inferencePort = try TestServer.freePort()
        let server = try TestServer(arguments: ["--inference-port", String(inferencePort)])
        try await server.start()
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        try Self.serveStub(server, token: member)
        let url = "http://127.0.0.1:\(inferencePort)/search/ranker/v1/completions"
        try await eventually("the service answers through the gateway", timeout: .seconds(60)) {
            (try? await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(member)")], body: "{}").0) == 200
        }
        // A pod that gets SVIDs for two audiences, calls the service with each, keeps the right one in a file, then waits.
        let script = """
            import json, os, time, urllib.request, urllib.error
            api = os.environ["TARMAC_IDENTITY_URL"]
            def post(u, body, token=None):
                req = urllib.request.Request(u, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
                if token: req.add_header("Authorization", "Bearer " + token)
                try:
                    with urllib.request.urlopen(req, timeout=10) as r: return r.status, json.loads(r.read() or b"{}"), r.headers.get("X-Tarmac-Model-Version")
                except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"{}"), None
            boot = open(os.environ["TARMAC_IDENTITY_BOOTSTRAP_FILE"]).read().strip()
            _, own, _ = post(api + "/v1/identity", {"bootstrap": boot})
            _, right, _ = post(api + "/v1/identity", {"svid": own["svid"], "audience": [os.environ["AUDIENCE"]]})
            _, wrong, _ = post(api + "/v1/identity", {"svid": own["svid"], "audience": ["inference:search/other"]})
            for name, t in (("right", right["svid"]), ("wrong", wrong["svid"])):
                status, body, version = post(os.environ["INFER"], {"prompt": "hi"}, t)
                print(name, status, version, body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else body.get("error", ""), flush=True)
            print("svid", right["svid"], flush=True)
            time.sleep(float(os.environ.get("HOLD", "0")))
            """
        try server.dir.write("caller/call.py", script)
        func job(_ name: String, team: String, hold: Int) throws -> String {
            try server.dir.write("caller/\(name).yaml", """
                apiVersion: tarmac.dev/v1alpha1
                kind: BatchJob
                metadata: {name: \(name), team: \(team), env: dev, owner: alice@acme.example}
                spec:
                  size: cpu-small
                  tasks: 1
                  image: docker.io/library/python:3.12-slim
                  command: [python3, call.py]
                  workdir: .
                  env: {INFER: "\(url)", AUDIENCE: "inference:search/ranker", HOLD: "\(hold)"}
                """)
        }
        #expect(try server.cli(["submit", try job("caller", team: "search", hold: 1)], token: member).status == 0)
        let done = try await server.waitFor("caller", timeout: .seconds(60)) { ["succeeded", "failed"].contains($0["state"] as? String ?? "") }
        #expect(done["state"] as? String == "succeeded", "\(done)")
        let log = try server.cli(["logs", "caller"], token: member).stdout
        #expect(log.contains("right 200 ranker@1.0.0"), "\(log)")
        #expect(log.contains("wrong 403") && log.contains("ask for a JWT-SVID with audience inference:search/ranker"), "\(log)")
        // Its attempt ended: the token it kept no longer calls anything.
        let kept = try #require(log.split(separator: "\n").first { $0.hasPrefix("svid ") }.map { String($0.dropFirst(5)) }, "\(log)")
        try await eventually("the ended workload's token is refused", timeout: .seconds(10)) {
            (try await TestServer.requestWithHeaders(.POST, url, headers: [("Authorization", "Bearer \(kept)")], body: "{}")).0 == 401
        }
        // Another team's workload, with the right audience, finds no such service.
        #expect(try server.cli(["submit", try job("ads-caller", team: "ads", hold: 0)], token: ads).status == 0)
        _ = try await server.waitFor("ads-caller", timeout: .seconds(60)) { ["succeeded", "failed"].contains($0["state"] as? String ?? "") }
        let adsLog = try server.cli(["logs", "ads-caller"], token: ads).stdout
        #expect(adsLog.contains("right 404"), "\(adsLog)")
    }

    /// A registered model's files are laid out for the model server and checked first: served when they are the
    /// registered bytes; when a kept file changed afterwards the server is never started and `why` says ModelTampered.
    @Test func aTamperedModelIsNeverServed() async throws {
        let server = try TestServer()
        try await server.start()
        let member = try await SecurityTests.token(server, role: "member", team: "search")
        let model = server.dir.path + "/ranker-model"
        try server.dir.write("ranker-model/config.json", "{\"layers\": 2}\n")
        try server.dir.write("ranker-model/weights.bin", String(repeating: "w", count: 50_000))
        var r = try server.cli(["model", "register", "ranker", "--version", "1.0.0", "--path", model], token: member)
        #expect(r.status == 0, "\(r.stderr)")
        try server.dir.write("serve/model_server.py", try String(contentsOfFile: Fixtures.path("Tests/Support/model_server.py"), encoding: .utf8))
        func service(_ name: String) throws -> String {
            try server.dir.write("serve/\(name).yaml", """
                apiVersion: tarmac.dev/v1alpha1
                kind: InferenceService
                metadata: {name: \(name), team: search, env: dev, owner: alice@acme.example}
                spec:
                  size: cpu-small
                  model: ranker@1.0.0
                  image: docker.io/library/python:3.12-slim
                  command: [python3, -c, "import os; d = os.environ['MODEL_DIR']; print('model files:', sorted(os.listdir(d)), open(d + '/config.json').read().strip(), flush=True); exec(open('model_server.py').read())"]
                  workdir: .
                  port: 8080
                """)
        }
        #expect(try server.cli(["submit", try service("ranker")], token: member).status == 0)
        try await eventually("the model server lists its files", timeout: .seconds(60)) {
            try server.cli(["logs", "ranker"], token: member).stdout.contains("listening on")
        }
        let logs = try server.cli(["logs", "ranker"], token: member).stdout
        #expect(logs.contains("model files: ['config.json', 'weights.bin'] {\"layers\": 2}"), "\(logs)")

        // On Kubernetes the pod's init container fetches each file from the API and checks it: the route, and the
        // init container's own script run here against it (with a person's token in place of the attempt's).
        let ads = try await SecurityTests.token(server, role: "member", team: "ads")
        let id = try #require(try await server.json(.GET, "/v1/workloads/ranker", token: member).1["id"] as? String)
        let base = "http://127.0.0.1:\(server.port)/v1/workloads/\(id)/model"
        let (status, body) = try await TestServer.request(.GET, base + "/config.json", headers: [("Authorization", "Bearer \(member)")])
        #expect(status == 200 && String(decoding: body, as: UTF8.self) == "{\"layers\": 2}\n")
        #expect(try await TestServer.request(.GET, base + "/config.json", headers: [("Authorization", "Bearer \(ads)")]).0 == 404, "another team's")
        let missing = try await TestServer.request(.GET, base + "/../tarmac.db", headers: [("Authorization", "Bearer \(member)")])
        #expect(missing.0 == 404, "\(String(decoding: missing.1, as: UTF8.self))")
        let manifest = try ModelManifest.of(directory: model)
        func fetch(into target: String) throws -> ProcessResult {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            let script = WorkloadObjects.modelFetchScript(manifest.files).replacingOccurrences(of: "cd \(WorkloadObjects.modelDir)", with: "cd '\(target)'")
            return try Run.program("/usr/bin/env", ["TARMAC_MODEL_URL=\(base)", "TARMAC_MODEL_TOKEN=\(member)", "/bin/sh", "-c", script])
        }
        let fetched = try fetch(into: server.dir.path + "/init-1")
        #expect(fetched.status == 0 && fetched.stdout.contains("2 model files fetched and checked"), "\(fetched.stdout)\(fetched.stderr)")

        // Someone changes the kept weights behind the registry's back.
        let digest = try #require(try ModelManifest.of(directory: model).files.first { $0.path == "weights.bin" }).sha256
        let kept = server.data + "/models/search/" + digest.prefix(2) + "/" + digest
        #expect(FileManager.default.fileExists(atPath: kept), "the registry keeps the file at \(kept)")
        chmod(kept, 0o600)
        try Data(String(repeating: "x", count: 50_000).utf8).write(to: URL(fileURLWithPath: kept))
        let refused = try fetch(into: server.dir.path + "/init-2")
        #expect(refused.status == 3 && refused.stderr.contains("ModelTampered: weights.bin is not the registered bytes"), "\(refused.status) \(refused.stderr)")
        #expect(try server.cli(["submit", try service("ranker-b")], token: member).status == 0)
        let ended = try await server.waitFor("ranker-b") { ($0["state"] as? String) == "failed" }
        #expect(ended["cause"] as? String == "ModelTampered", "\(ended)")
        r = try server.cli(["why", "ranker-b"], token: member)
        #expect(r.stdout.contains("ModelTampered") && r.stdout.contains("weights.bin: sha256") && r.stdout.contains("was not started"), "\(r.stdout)")
        let tamperedLogs = try server.cli(["logs", "ranker-b"], token: member).stdout
        #expect(!tamperedLogs.contains("listening on") && !tamperedLogs.contains("model files:"), "the model server ran: \(tamperedLogs)")
    }
}
}
