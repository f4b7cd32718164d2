import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TarmacTesting

#if canImport(Glibc)
import Glibc
#endif

/// The inference gateway against nginx, one load generator (wrk, POSTing a completion request) for all three: the
/// OpenAI-compatible stub (Tests/Support/model_server.py) served by `tarmac up` as an InferenceService, reached
/// (a) directly, (b) through nginx `proxy_pass` (keep-alive to the upstream), (c) through Tarmac's inference gateway
/// (API token checked, version chosen by weight, metrics and analysis samples per answer, `usage` read). Full load and
/// paced; requests/s, added p50/p99 and the proxy's CPU per request.
func inferenceGatewayBenchmark(_ args: [String]) async {
    let tarmac = tarmacBinary(args)
    let (connections, duration, pause, nginx, wrk) = proxyBenchmarkOptions(args, name: "inference-gateway")
    do {
        let dir = try TemporaryDirectory(prefix: "tarmac-inference-bench")
        let (proxyPort, inferencePort) = (Int.random(in: 30000..<40000), Int.random(in: 40000..<50000))
        let (server, base, admin) = try await BenchServer.launch(tarmac, dir: dir, platform: Fixtures.examplePlatform, extra: ["--inference-port", String(inferencePort)])
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let (_, memberBody) = try await send(.POST, base + "/v1/tokens", token: admin, body: #"{"role": "member", "team": "search", "name": "bench@acme.example"}"#)
        let member = (try JSONSerialization.jsonObject(with: memberBody) as? [String: Any])?["secret"] as? String ?? ""
        // The stub runs as the service's command, its source given inline (a local pod reads no file of this checkout).
        let stub = try String(contentsOfFile: Fixtures.path("Tests/Support/model_server.py"), encoding: .utf8)
        let code = String(decoding: try JSONSerialization.data(withJSONObject: stub, options: [.fragmentsAllowed]), as: UTF8.self)
        let doc = """
            apiVersion: tarmac.dev/v1alpha1
            kind: InferenceService
            metadata: {name: ranker, team: search, env: dev, owner: bench@acme.example}
            spec:
              size: cpu-small
              model: ranker@1.0.0
              image: docker.io/library/python:3.12-slim
              command: [python3, -c, \(code)]
              port: 8080

            """
        let (s, body) = try await send(.POST, base + "/v1/workloads", token: member, body: doc)
        guard s == 201, let wid = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String else {
            throw BenchFailure("the service was not accepted: \(String(decoding: body, as: UTF8.self))")
        }
        var endpoint: String?
        for _ in 0..<300 where endpoint == nil {
            let (_, w) = try await send(.GET, base + "/v1/workloads/\(wid)", token: member, body: nil)
            endpoint = ((try JSONSerialization.jsonObject(with: w) as? [String: Any])?["endpoints"] as? [String])?.first
            if endpoint == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard let direct = endpoint, let upstreamPort = direct.split(separator: ":").last.flatMap({ Int($0) }) else { throw BenchFailure("the service never listed an endpoint") }

        let prefix = dir.path + "/nginx"
        try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
        let conf = try dir.write("nginx/nginx.conf", """
            worker_processes auto;
            error_log \(prefix)/logs/error.log warn;
            pid \(prefix)/nginx.pid;
            daemon off;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path \(prefix)/body;
              proxy_temp_path \(prefix)/proxy;
              fastcgi_temp_path \(prefix)/fastcgi;
              uwsgi_temp_path \(prefix)/uwsgi;
              scgi_temp_path \(prefix)/scgi;
              keepalive_requests 1000000;
              upstream model { server 127.0.0.1:\(upstreamPort); keepalive 256; }
              server {
                listen 127.0.0.1:\(proxyPort);
                location /search/ranker/ {
                  proxy_pass http://model/;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                }
              }
            }
            """)
        let ng = Process()
        ng.executableURL = URL(fileURLWithPath: nginx)
        ng.arguments = ["-c", conf, "-p", prefix]
        ng.standardError = FileHandle.nullDevice
        try ng.run()
        defer { kill(ng.processIdentifier, SIGTERM); ng.waitUntilExit() }

        let paths = [("direct", direct + "/v1/completions", nil as String?),
                     ("nginx", "http://127.0.0.1:\(proxyPort)/search/ranker/v1/completions", nil),
                     ("gateway", "http://127.0.0.1:\(inferencePort)/search/ranker/v1/completions", member)]
        // Each path answers before it is measured (the gateway's route appears within its refresh).
        for (name, url, token) in paths {
            var ok = false
            for _ in 0..<100 where !ok {
                let (st, _) = try await send(.POST, url, token: token, body: #"{"prompt": "rank these"}"#, headers: [("Content-Type", "application/json")])
                ok = st == 200
                if !ok { try await Task.sleep(for: .milliseconds(100)) }
            }
            guard ok else { throw BenchFailure("\(name) (\(url)) never answered 200") }
        }
        let post = try dir.write("post.lua", """
            wrk.method = "POST"
            wrk.body = '{"prompt": "rank these three documents"}'
            wrk.headers["Content-Type"] = "application/json"
            """)
        let pacedScript = try dir.write("paced.lua", (try String(contentsOfFile: post, encoding: .utf8)) + "\nfunction delay()\n  return \(pause)\nend\n")
        let nginxPIDs = [ng.processIdentifier], tarmacPIDs = [server.processIdentifier]

        print("Inference calls (POST /v1/completions), one load generator (wrk -t1 -d \(duration) --latency), 2 cores shared by the load, the model")
        print("server (the Python stub, one process), nginx and Tarmac: (a) direct to the stub; (b) nginx proxy_pass, keep-alive upstream;")
        print("(c) Tarmac's inference gateway: API token, version by weight, metrics and analysis samples per answer, usage read.")
        print("CPU per call of the proxy: user + system time of its processes over the run / calls (Tarmac's whole process for (c)).")
        for (title, script) in [("Full load:", post), ("Paced: each connection waits \(pause) ms after each answer (wrk's delay hook):", pacedScript)] {
            print(title)
            print("connections   (a) req/s   p50 ms   p99 ms   (b) nginx req/s   p50 ms   p99 ms   (c) gateway req/s   p50 ms   p99 ms   (b) added p50/p99   (c) added p50/p99   (c)/(b)   CPU µs/call (b)  (c)  (c)/(b)")
            for n in connections {
                let a = try runWrk(wrk, paths[0].1, auth: nil, connections: n, duration: duration, script: script)
                let b0 = cpuSeconds(nginxPIDs)
                let b = try runWrk(wrk, paths[1].1, auth: nil, connections: n, duration: duration, script: script)
                let bCPU = (cpuSeconds(nginxPIDs) - b0) / Double(max(1, b.requests)) * 1e6
                let c0 = cpuSeconds(tarmacPIDs)
                let c = try runWrk(wrk, paths[2].1, auth: member, connections: n, duration: duration, script: script)
                let cCPU = (cpuSeconds(tarmacPIDs) - c0) / Double(max(1, c.requests)) * 1e6
                print(String(format: "%11d   %9.0f   %6.3f   %6.3f   %15.0f   %6.3f   %6.3f   %17.0f   %6.3f   %6.3f   %+7.3f / %+7.3f ms   %+7.3f / %+7.3f ms   %5.2fx   %15.1f  %5.1f  %5.2fx",
                             n, a.rate, a.p50, a.p99, b.rate, b.p50, b.p99, c.rate, c.p50, c.p99, b.p50 - a.p50, b.p99 - a.p99, c.p50 - a.p50, c.p99 - a.p99,
                             c.rate / b.rate, bCPU, cCPU, cCPU / bCPU))
                if a.errors + b.errors + c.errors > 0 { print("   non-2xx or socket errors: direct \(a.errors), nginx \(b.errors), gateway \(c.errors)") }
            }
        }
        _ = try? await send(.POST, base + "/v1/workloads/\(wid)/cancel", token: admin, body: nil)
    } catch {
        print("inference-gateway failed: \(error)")
        exit(1)
    }
}
