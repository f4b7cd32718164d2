import Foundation
import Testing
import TarmacKubernetes

@Suite struct ClientErrorPathTests {
    func client(_ url: String) throws -> KubeClient {
        try KubeClient(ClusterAccess(server: url, token: "secret-token-123", source: "test"),
                       retry: RetryPolicy(attempts: 4, base: .milliseconds(20), cap: .seconds(3), timeout: .seconds(5)))
    }

    @Test func conflictIsReportedNotRetried() async throws {
        let fake = FakeAPIServer()
        fake.add("POST /api/v1/namespaces", .status(409, #"{"kind":"Status","reason":"AlreadyExists","message":"namespaces \"a\" already exists","code":409}"#))
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let c = try client(url)
        await #expect(throws: KubeError.self) { _ = try await c.create("/api/v1/namespaces", ["metadata": ["name": "a"]]) }
        do { _ = try await c.create("/api/v1/namespaces", ["metadata": ["name": "a"]]) } catch let e as KubeError {
            #expect(e.code == 404, "the script is used up: the 409 was not retried")
        }
        #expect(fake.requests.filter { $0.method == "POST" }.count == 2)
        #expect(fake.requests.allSatisfy { $0.authorization == "Bearer secret-token-123" })
        #expect(!c.access.description.contains("secret-token-123"))
    }

    @Test func tooManyRequestsHonoursRetryAfterThenSucceeds() async throws {
        let fake = FakeAPIServer()
        fake.add("PATCH /api/v1/namespaces/a",
                 .status(429, #"{"kind":"Status","reason":"TooManyRequests","code":429}"#, headers: ["Retry-After": "1"]),
                 .status(503, #"{"kind":"Status","reason":"ServiceUnavailable","code":503}"#),
                 .status(200, #"{"kind":"Namespace","metadata":{"name":"a","resourceVersion":"7"}}"#))
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let c = try client(url)
        let started = ContinuousClock.now
        let o = try await c.apply("/api/v1/namespaces/a", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "a"]])
        #expect((o["metadata"] as? [String: Any])?["resourceVersion"] as? String == "7")
        #expect(ContinuousClock.now - started >= .seconds(1), "waited the Retry-After second")
        let patches = fake.requests.filter { $0.method == "PATCH" }
        #expect(patches.count == 3)
        #expect(patches.allSatisfy { $0.contentType == "application/apply-patch+yaml" && $0.query == "fieldManager=tarmac&force=true" })
        #expect(c.requests == 3)
    }

    @Test func retriesGiveUpAfterTheLimit() async throws {
        let fake = FakeAPIServer()
        for _ in 0..<4 { fake.add("LIST /api/v1/nodes", .status(500, #"{"kind":"Status","reason":"InternalError","code":500}"#)) }
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let c = try client(url)
        do {
            _ = try await c.list("/api/v1/nodes")
            Issue.record("expected a KubeError")
        } catch let e as KubeError {
            #expect(e.code == 500 && e.reason == "InternalError")
        }
        #expect(fake.requests.count == 4)
    }

    @Test func watchResumesAfterADropAndRelistsOnGone() async throws {
        let fake = FakeAPIServer()
        func node(_ name: String, _ rv: String) -> String { #"{"kind":"Node","metadata":{"name":"\#(name)","resourceVersion":"\#(rv)"}}"# }
        fake.add("LIST /api/v1/nodes",
                 .status(200, #"{"kind":"NodeList","metadata":{"resourceVersion":"10"},"items":[\#(node("n1", "9"))]}"#),
                 .status(200, #"{"kind":"NodeList","metadata":{"resourceVersion":"20"},"items":[\#(node("n1", "18")),\#(node("n2", "19"))]}"#))
        fake.add("WATCH /api/v1/nodes",
                 // Events, a bookmark, then the connection dies in the middle of a line.
                 .stream([#"{"type":"ADDED","object":\#(node("n2", "11"))}"#, #"{"type":"BOOKMARK","object":{"kind":"Node","metadata":{"resourceVersion":"15"}}}"#],
                         thenDrop: #"{"type":"MODIFIED","object":{"kind":"No"#),
                 // Resumed from 15, which has expired meanwhile.
                 .stream([#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 15 (19)"}}"#], thenDrop: nil),
                 .stream([#"{"type":"MODIFIED","object":\#(node("n2", "21"))}"#], thenDrop: nil))
        let (url, task) = try await fake.start()
        defer { task.cancel() }
        let c = try client(url)
        let events = EventLog()
        let watch = ListWatch(client: c, path: "/api/v1/nodes", timeoutSeconds: 5)
        let run = Task { try await watch.run { e in events.append(e) } }
        for _ in 0..<100 where events.count < 4 { try await Task.sleep(for: .milliseconds(50)) }
        run.cancel()
        #expect(events.descriptions == ["relisted n1", "added n2@11", "relisted n1,n2", "modified n2@21"], "\(events.descriptions)")
        let watches = fake.requests.filter { $0.query.contains("watch=1") }.map(\.query)
        #expect(watches.count >= 3)
        #expect(watches.prefix(3).map { q in q.split(separator: "&").first { $0.hasPrefix("resourceVersion=") } ?? "" } == ["resourceVersion=10", "resourceVersion=15", "resourceVersion=20"])
        #expect(watches.allSatisfy { $0.contains("allowWatchBookmarks=true") })
        #expect(fake.requests.filter { !$0.query.contains("watch=1") }.count == 2, "one list, one relist after 410")
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ e: WatchEvent) {
        let d: String = switch e {
        case .relisted(let objs): "relisted " + objs.compactMap(\.name).joined(separator: ",")
        case .added(let o): "added \(o.name ?? "?")@\(o.resourceVersion ?? "?")"
        case .modified(let o): "modified \(o.name ?? "?")@\(o.resourceVersion ?? "?")"
        case .deleted(let o): "deleted \(o.name ?? "?")@\(o.resourceVersion ?? "?")"
        }
        lock.withLock { items.append(d) }
    }
    var count: Int { lock.withLock { items.count } }
    var descriptions: [String] { lock.withLock { items } }
}
