import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import TarmacServer
import TarmacTesting
import Testing

/// A follower's port over real HTTP on loopback: a real upstream stands for the leader, and the follower forwards to
/// the address a test says the Lease holds.
@Suite struct LeaderForwarderTests {
    /// Where the follower believes the leader is (what it would have read from the Lease).
    final class Lease: Sendable {
        let current = Mutex<LeaderAddress?>(nil)
        func set(_ a: LeaderAddress?) { current.withLock { $0 = a } }
    }

    /// Whether the stand-in leader answers its /readyz 200.
    final class Readiness: Sendable {
        let value = Mutex(true)
        var isReady: Bool { value.withLock { $0 } }
        func set(_ v: Bool) { value.withLock { $0 = v } }
    }

    /// A leader and a follower, each on a port of its own; stopped with `stop()`.
    struct Pair {
        let leaderPort: Int
        let followerPort: Int
        let lease: Lease
        let ready: Readiness
        let running: Task<Void, any Error>
        let group: ServiceGroup
        let client: HTTPClient
        let testClient: HTTPClient

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            try? await client.shutdown()
            try? await testClient.shutdown()
        }

        func send(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, headers: [(String, String)] = []) async throws
            -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
            var req = HTTPClientRequest(url: "http://127.0.0.1:\(followerPort)" + path)
            req.method = method
            // A connection per request: what one request did to its connection (an upload answered early) does not
            // decide how the next one fares.
            req.headers.add(name: "Connection", value: "close")
            for (n, v) in headers { req.headers.add(name: n, value: v) }
            if let body { req.body = .bytes(body) }
            // A client that follows no redirect (HTTPClient.shared would), of the test's own; generous for a loaded
            // machine (megabytes through two debug-built servers).
            let r = try await testClient.execute(req, timeout: .seconds(120))
            return (Int(r.status.code), r.headers, try await r.body.collect(upTo: 64 << 20))
        }
    }

    static func start() async throws -> Pair {
        let leaderPort = try TestPorts.free(), followerPort = try TestPorts.free()
        let ready = Readiness()
        let router = Router()
        router.post("echo") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            let said = [
                "method": request.method.rawValue, "uri": request.uri.description,
                "forwardedBy": request.headers[HTTPField.Name("Tarmac-Forwarded-By")!] ?? "",
                "host": request.head.authority ?? "", "custom": request.headers[HTTPField.Name("X-Custom")!] ?? "",
                "bytes": String(body.readableBytes), "sum": String(body.readableBytesView.reduce(0) { $0 &+ Int($1) }),
            ]
            let data = try JSONSerialization.data(withJSONObject: said)
            return Response(status: .created, headers: [.contentType: "application/json", HTTPField.Name("X-Up")!: "1"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("stream") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody { writer in
                for i in 0..<50 { try await writer.write(ByteBuffer(string: "part \(i)\n")) }
                try await writer.finish(nil)
            })
        }
        // Answers before reading the body (as the API's upload guard does for a body over its limit).
        router.post("early") { _, _ -> Response in Response(status: .contentTooLarge, body: .init(byteBuffer: ByteBuffer(string: "too large\n"))) }
        router.get("moved") { _, _ -> Response in Response(status: .found, headers: [.location: "/elsewhere"]) }
        router.get("readyz") { _, _ -> Response in
            ready.isReady ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
                : Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "recovering state\n")))
        }
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: leaderPort)), logger: Logger(label: "test.leader"))
        let lease = Lease()
        let client = LeaderForwarder.makeClient()
        let forwarder = LeaderForwarder(port: .api, identity: "follower-1", client: client, logger: Logger(label: "test.follower")) { lease.current.withLock { $0 } }
        let follower = buildFollowerApplication(host: "127.0.0.1", port: followerPort, forwarder: forwarder, logger: Logger(label: "test.follower"))
        let group = ServiceGroup(configuration: .init(services: [upstream, follower], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let pair = Pair(leaderPort: leaderPort, followerPort: followerPort, lease: lease, ready: ready, running: running, group: group, client: client,
                        testClient: HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow)))
        do {
            // Generous: the full suite on 2 cores once took longer than 20 s to bind both.
            try await eventually("both ports answer", timeout: .seconds(90), every: .milliseconds(100)) {
                let follower = (try? await pair.send(.GET, "/healthz").status) == 200
                let leader = (try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(leaderPort)/readyz"), timeout: .seconds(2)).status) == .ok
                return follower && leader
            }
        } catch {
            // Its clients are shut down before it goes (a client dropped without it stops a debug test process).
            await pair.stop()
            throw error
        }
        return pair
    }

    @Test func aRequestAndItsAnswerPassThroughWhole() async throws {
        let pair = try await Self.start()
        defer { Task { await pair.stop() } }
        pair.lease.set(LeaderAddress(holder: "leader-0", url: LeaderAddress.url(host: "127.0.0.1", port: pair.leaderPort)))
        // A body of several MiB, streamed through (not a multiple of any buffer size).
        let bytes = (0..<(5 << 20) + 123).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let r = try await pair.send(.POST, "/echo?team=search&x=a%20b", body: ByteBuffer(bytes: bytes),
                                    headers: [("X-Custom", "kept"), ("Connection", "keep-alive"), ("Host", "tarmac.example:443")])
        #expect(r.status == 201)
        #expect(r.headers.first(name: "X-Up") == "1")
        let said = try #require(try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: String])
        #expect(said["method"] == "POST")
        #expect(said["uri"] == "/echo?team=search&x=a%20b")
        #expect(said["forwardedBy"] == "follower-1")
        #expect(said["custom"] == "kept")
        #expect(said["host"] == "tarmac.example:443", "the leader sees the address the client used")
        #expect(said["bytes"] == String(bytes.count))
        #expect(said["sum"] == String(bytes.reduce(0) { $0 &+ Int($1) }))
        // A streamed answer comes whole; a redirect is passed on, not followed.
        let streamed = try await pair.send(.GET, "/stream")
        #expect(String(buffer: streamed.body) == (0..<50).map { "part \($0)\n" }.joined())
        let moved = try await pair.send(.GET, "/moved")
        #expect(moved.status == 302 && moved.headers.first(name: "Location") == "/elsewhere")
        // Ready while the leader is, and says whom it follows.
        let ready = try await pair.send(.GET, "/readyz")
        #expect(ready.status == 200 && String(buffer: ready.body).contains("follower of leader-0"), "\(String(buffer: ready.body))")
        pair.ready.set(false)
        let recovering = try await pair.send(.GET, "/readyz")
        #expect(recovering.status == 503 && String(buffer: recovering.body).contains("recovering state"), "\(String(buffer: recovering.body))")
    }

    @Test func withNoLeaderOrAnUnreachableOneItAnswers503WithRetryAfter() async throws {
        let pair = try await Self.start()
        defer { Task { await pair.stop() } }
        // Nobody leads yet: alive, not ready, and every request is told to come back.
        #expect(try await pair.send(.GET, "/healthz").status == 200)
        let none = try await pair.send(.GET, "/v1/workloads")
        #expect(none.status == 503 && none.headers.first(name: "Retry-After") == "2")
        #expect(String(buffer: none.body).contains("no replica leads yet"), "\(String(buffer: none.body))")
        #expect(try await pair.send(.GET, "/readyz").status == 503)
        // The Lease still names a leader that died: nothing listens at its address.
        let dead = try TestPorts.free()
        pair.lease.set(LeaderAddress(holder: "leader-0", url: LeaderAddress.url(host: "127.0.0.1", port: dead)))
        let unreachable = try await pair.send(.POST, "/v1/workloads", body: ByteBuffer(string: "kind: TrainingJob\n"))
        #expect(unreachable.status == 503 && unreachable.headers.first(name: "Retry-After") == "1")
        #expect(String(buffer: unreachable.body).contains("leader-0") && String(buffer: unreachable.body).contains("did not answer"), "\(String(buffer: unreachable.body))")
        let notReady = try await pair.send(.GET, "/readyz")
        #expect(notReady.status == 503 && String(buffer: notReady.body).contains("did not answer"))
        // A leader that did not say where it serves this port.
        pair.lease.set(LeaderAddress(holder: "leader-0", url: nil))
        let silent = try await pair.send(.GET, "/v1/workloads")
        #expect(silent.status == 503 && String(buffer: silent.body).contains("did not say where"), "\(String(buffer: silent.body))")
    }

    /// Large bodies go through a relay: an answer sent before the body was read, or a leader that is not there, ends
    /// the forward without two readers of the body (which would crash the server), and the follower serves on.
    @Test func anUploadAnsweredEarlyOrNotAtAllLeavesTheFollowerServing() async throws {
        let pair = try await Self.start()
        defer { Task { await pair.stop() } }
        pair.lease.set(LeaderAddress(holder: "leader-0", url: LeaderAddress.url(host: "127.0.0.1", port: pair.leaderPort)))
        let big = ByteBuffer(bytes: [UInt8](repeating: 7, count: 12 << 20))
        for _ in 0..<3 {
            let r = try? await pair.send(.POST, "/early", body: big)
            // The early answer, or the connection closed under the rest of the upload: never a crash.
            if let r { #expect(r.status == 413, "\(r.status)") }
            #expect(try await pair.send(.GET, "/healthz").status == 200)
        }
        // A streamed upload passes whole.
        let echoed = try await pair.send(.POST, "/echo", body: big)
        let said = try #require(try JSONSerialization.jsonObject(with: Data(echoed.body.readableBytesView)) as? [String: String])
        #expect(said["bytes"] == String(12 << 20))
        pair.lease.set(LeaderAddress(holder: "leader-0", url: LeaderAddress.url(host: "127.0.0.1", port: try TestPorts.free())))
        for _ in 0..<3 {
            let r = try? await pair.send(.POST, "/echo", body: big)
            if let r { #expect(r.status == 503, "\(r.status)") }
            #expect(try await pair.send(.GET, "/healthz").status == 200)
        }
    }

    @Test func aRequestAlreadyForwardedIsNotForwardedAgain() async throws {
        let pair = try await Self.start()
        defer { Task { await pair.stop() } }
        pair.lease.set(LeaderAddress(holder: "leader-0", url: LeaderAddress.url(host: "127.0.0.1", port: pair.leaderPort)))
        let r = try await pair.send(.POST, "/echo", body: ByteBuffer(string: "x"), headers: [("Tarmac-Forwarded-By", "follower-2")])
        #expect(r.status == 503 && String(buffer: r.body).contains("already forwarded"), "\(String(buffer: r.body))")
    }

    @Test func addressesAreURLs() {
        #expect(LeaderAddress.url(host: "10.0.0.5", port: 8080) == "http://10.0.0.5:8080")
        #expect(LeaderAddress.url(host: "fd00::5", port: 8080) == "http://[fd00::5]:8080")
        #expect(LeaderAddress.annotation(for: .tools) == "tarmac.dev/tools-url")
    }
}
