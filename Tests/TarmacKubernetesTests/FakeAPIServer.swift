import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// A scripted stand-in for kube-apiserver, for the client's error paths only (409, 410, 429, 5xx, dropped watches).
/// What the client does against a real API server is tested in RealClusterTests.
final class FakeAPIServer: Sendable {
    struct Seen: Sendable {
        var method: String
        var path: String
        var query: String
        var contentType: String?
        var authorization: String?
    }

    /// Each request takes the next scripted reply for its key ("METHOD path", "LIST path" or "WATCH path").
    let seen = Mutex<[Seen]>([])
    let script = Mutex<[String: [Reply]]>([:])

    enum Reply: Sendable {
        case status(Int, String, headers: [String: String] = [:])
        case stream([String], thenDrop: String?)
    }

    func add(_ key: String, _ replies: Reply...) { script.withLock { $0[key, default: []] += replies } }
    var requests: [Seen] { seen.withLock { $0 } }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.on("**", method: .get) { req, ctx in try await self.answer(req, ctx) }
        router.on("**", method: .post) { req, ctx in try await self.answer(req, ctx) }
        router.on("**", method: .patch) { req, ctx in try await self.answer(req, ctx) }
        router.on("**", method: .put) { req, ctx in try await self.answer(req, ctx) }
        router.on("**", method: .delete) { req, ctx in try await self.answer(req, ctx) }
        return router
    }

    func answer(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let path = req.uri.path
        let query = req.uri.query ?? ""
        seen.withLock { $0.append(Seen(method: req.method.rawValue, path: path, query: query, contentType: req.headers[.contentType],
                                        authorization: req.headers[.authorization])) }
        let verb = req.method == .get ? (query.contains("watch=1") ? "WATCH" : "LIST") : req.method.rawValue
        let reply = script.withLock { s -> Reply? in
            guard var list = s[verb + " " + path], !list.isEmpty else { return nil }
            let r = list.removeFirst()
            s[verb + " " + path] = list
            return r
        }
        switch reply {
        case nil:
            return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: #"{"kind":"Status","reason":"NotFound","message":"no script"}"#)))
        case .status(let code, let body, let headers)?:
            var h = HTTPFields()
            h[.contentType] = "application/json"
            if let after = headers["Retry-After"] { h[.retryAfter] = after }
            return Response(status: .init(code: code), headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
        case .stream(let lines, let drop)?:
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                for l in lines { try await writer.write(ByteBuffer(string: l + "\n")) }
                if let drop {
                    // Let the complete lines reach the client before the connection dies: an aborted connection may
                    // discard what it had not yet sent.
                    try await Task.sleep(for: .milliseconds(500))
                    try await writer.write(ByteBuffer(string: drop))
                    try await Task.sleep(for: .milliseconds(100))
                    throw CancellationError()  // the connection dies mid-line
                }
                try await writer.finish(nil)
            })
        }
    }

    /// Starts the server on a free loopback port; returns its URL and the task to cancel.
    func start() async throws -> (String, Task<Void, any Error>) {
        let port = AsyncStream<Int>.makeStream()
        let app = Application(router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in port.continuation.yield(ch.localAddress?.port ?? 0) })
        let task = Task { try await app.run() }
        var it = port.stream.makeAsyncIterator()
        guard let p = await it.next() else { throw CancellationError() }
        return ("http://127.0.0.1:\(p)", task)
    }
}
