import Foundation
import TarmacCore
import Hummingbird
import NIOCore
import Synchronization

/// An in-memory stand-in for kube-apiserver's REST surface: create (409 on a duplicate), get, list with a label selector,
/// watch from a resourceVersion, server-side apply and merge patch (approximated by merging maps, replacing lists),
/// status replacement and delete. No controllers, no admission, no schema: it only stores objects. It exists for the
/// reconcile benchmark and for unit tests of the backend's flows; it is never proof of behaviour against a real cluster.
public final class InMemoryAPIServer: Sendable {
    struct Event { var rv: Int; var collection: String; var namespace: String?; var type: String; var object: Data }
    struct State {
        var objects: [String: Data] = [:]
        var rv = 1
        var events: [Event] = []
        var requests = 0
        var byVerb: [String: Int] = [:]
        var logsHeld = false
        var logRequests = 0
    }

    let state = Mutex(State())
    public let username: String

    /// Where it reads the time (creation timestamps, watch timeouts).
    let clock: any RuntimeClock

    public init(username: String = "kubernetes-admin", clock: any RuntimeClock = SystemClock()) {
        self.username = username
        self.clock = clock
    }

    public var requests: Int { state.withLock { $0.requests } }
    /// Pod log requests (`pods/NAME/log`) answered or waiting.
    public var logRequests: Int { state.withLock { $0.logRequests } }

    /// While held, pod log requests wait (a kubelet that does not answer); released, each answers `log of NAME`.
    public func holdLogs(_ held: Bool) { state.withLock { $0.logsHeld = held } }
    public var requestsByVerb: [String: Int] { state.withLock { $0.byVerb } }

    /// `group/version/plural` and the object's key.
    struct Target { var collection: String; var namespace: String?; var name: String?; var subresource: String? }

    static func parse(_ path: String) -> Target? {
        var parts = path.split(separator: "/").map(String.init)
        guard let first = parts.first else { return nil }
        let gv: String
        if first == "api", parts.count >= 2 { gv = parts[1]; parts.removeFirst(2) } else if first == "apis", parts.count >= 3 {
            gv = parts[1] + "/" + parts[2]
            parts.removeFirst(3)
        } else { return nil }
        var ns: String?
        if parts.count >= 3, parts[0] == "namespaces" {
            ns = parts[1]
            parts.removeFirst(2)
        }
        guard let plural = parts.first else { return nil }
        return Target(collection: gv + "/" + plural, namespace: ns, name: parts.count > 1 ? parts[1] : nil, subresource: parts.count > 2 ? parts[2] : nil)
    }

    static func key(_ t: Target, name: String) -> String { "\(t.collection)|\(t.namespace ?? "")|\(name)" }

    // MARK: direct access (for tests acting as the cluster's controllers)

    public func object(_ path: String) -> [String: Any]? {
        guard let t = Self.parse(path), let n = t.name else { return nil }
        return state.withLock { $0.objects[Self.key(t, name: n)] }.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    public func objects(_ collection: String) -> [[String: Any]] {
        state.withLock { s in s.objects.filter { $0.key.hasPrefix(collection + "|") }.map(\.value) }
            .compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    /// Stores an object as the cluster would (a node, a pod, a changed status), with an event for watchers.
    public func put(_ path: String, _ object: [String: Any]) {
        guard let t = Self.parse(path), let n = t.name else { return }
        let now = clock.now
        state.withLock { s in _ = Self.store(&s, t, n, object, type: nil, at: now) }
    }

    public func remove(_ path: String) {
        guard let t = Self.parse(path), let n = t.name else { return }
        state.withLock { s in Self.drop(&s, t, n) }
    }

    @discardableResult
    static func store(_ s: inout State, _ t: Target, _ name: String, _ object: [String: Any], type: String?, at now: Date) -> Data {
        var o = object
        var meta = o["metadata"] as? [String: Any] ?? [:]
        let existed = s.objects[key(t, name: name)] != nil
        s.rv += 1
        meta["name"] = name
        if let ns = t.namespace { meta["namespace"] = ns }
        meta["resourceVersion"] = String(s.rv)
        if meta["uid"] == nil { meta["uid"] = UUID().uuidString.lowercased() }
        if meta["creationTimestamp"] == nil { meta["creationTimestamp"] = ISO8601DateFormatter().string(from: now) }
        o["metadata"] = meta
        let data = (try? JSONSerialization.data(withJSONObject: o)) ?? Data()
        s.objects[key(t, name: name)] = data
        s.events.append(Event(rv: s.rv, collection: t.collection, namespace: t.namespace, type: type ?? (existed ? "MODIFIED" : "ADDED"), object: data))
        return data
    }

    static func drop(_ s: inout State, _ t: Target, _ name: String) {
        guard let data = s.objects.removeValue(forKey: key(t, name: name)) else { return }
        s.rv += 1
        var o = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        var meta = o["metadata"] as? [String: Any] ?? [:]
        meta["resourceVersion"] = String(s.rv)
        o["metadata"] = meta
        s.events.append(Event(rv: s.rv, collection: t.collection, namespace: t.namespace, type: "DELETED", object: (try? JSONSerialization.data(withJSONObject: o)) ?? data))
    }

    /// Maps merge key by key; anything else (lists, scalars) is replaced; with `nullDeletes`, null removes the key (RFC 7386).
    static func merge(_ base: Any?, _ patch: Any, nullDeletes: Bool) -> Any {
        guard let p = patch as? [String: Any] else { return patch }
        var b = base as? [String: Any] ?? [:]
        for (k, v) in p {
            if nullDeletes && v is NSNull { b[k] = nil } else { b[k] = merge(b[k], v, nullDeletes: nullDeletes) }
        }
        return b
    }

    static func matches(_ data: Data, selector: String?) -> Bool {
        guard let selector, !selector.isEmpty else { return true }
        let labels = (((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["metadata"] as? [String: Any])?["labels"] as? [String: String] ?? [:]
        return selector.split(separator: ",").allSatisfy { term in
            let kv = term.split(separator: "=", maxSplits: 1).map(String.init)
            return kv.count == 2 ? labels[kv[0]] == kv[1] : labels[kv[0]] != nil
        }
    }

    // MARK: HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        for m in [HTTPRequest.Method.get, .post, .patch, .put, .delete] {
            router.on("**", method: m) { req, ctx in try await self.answer(req, ctx) }
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func status(_ code: Int, _ reason: String, _ message: String) -> Response {
        let body: [String: Any] = ["kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message]
        return json(.init(code: code), (try? JSONSerialization.data(withJSONObject: body)) ?? Data())
    }

    func answer(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let query = Dictionary(uniqueKeysWithValues: (req.uri.query ?? "").split(separator: "&").map { part -> (String, String) in
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            return (kv[0], kv.count > 1 ? (kv[1].removingPercentEncoding ?? kv[1]) : "")
        })
        let isWatch = query["watch"] == "1" || query["watch"] == "true"
        state.withLock {
            $0.requests += 1
            $0.byVerb[isWatch ? "WATCH" : req.method.rawValue, default: 0] += 1
        }
        guard let t = Self.parse(req.uri.path) else { return Self.status(404, "NotFound", "no such path \(req.uri.path)") }
        let body = try await req.body.collect(upTo: 16 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        let bodyText = String(decoding: body.readableBytesView, as: UTF8.self)

        if t.collection == "authentication.k8s.io/v1/selfsubjectreviews" {
            let review: [String: Any] = ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "status": ["userInfo": ["username": username]]]
            return Self.json(.created, try JSONSerialization.data(withJSONObject: review))
        }
        if req.method == .get, t.subresource == "log", let name = t.name {
            state.withLock { $0.logRequests += 1 }
            while state.withLock({ $0.logsHeld }) { try await Task.sleep(for: .milliseconds(10)) }
            guard state.withLock({ $0.objects[Self.key(t, name: name)] }) != nil else { return Self.status(404, "NotFound", "pods \"\(name)\" not found") }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "log of \(name)\n")))
        }
        let now = clock.now
        switch (req.method, t.name) {
        case (.get, nil) where isWatch:
            return watch(t, from: Int(query["resourceVersion"] ?? "0") ?? 0, selector: query["labelSelector"], timeout: Int(query["timeoutSeconds"] ?? "60") ?? 60)
        case (.get, nil):
            let (items, rv) = state.withLock { s in
                (s.objects.filter { $0.key.hasPrefix(t.collection + "|" + (t.namespace.map { $0 + "|" } ?? "")) && Self.matches($0.value, selector: query["labelSelector"]) }
                    .sorted { $0.key < $1.key }.map(\.value), s.rv)
            }
            var out = Data(#"{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"\#(rv)"},"items":["#.utf8)
            for (i, d) in items.enumerated() {
                if i > 0 { out.append(contentsOf: Array(",".utf8)) }
                out.append(d)
            }
            out.append(contentsOf: Array("]}".utf8))
            return Self.json(.ok, out)
        case (.get, let name?):
            guard let d = state.withLock({ $0.objects[Self.key(t, name: name)] }) else { return Self.status(404, "NotFound", "\(t.collection) \"\(name)\" not found") }
            return Self.json(.ok, d)
        case (.post, nil):
            guard let object, let name = (object["metadata"] as? [String: Any])?["name"] as? String else { return Self.status(400, "BadRequest", "no object") }
            let result = state.withLock { s -> Data? in
                guard s.objects[Self.key(t, name: name)] == nil else { return nil }
                return Self.store(&s, t, name, object, type: "ADDED", at: now)
            }
            guard let result else { return Self.status(409, "AlreadyExists", "\(t.collection) \"\(name)\" already exists") }
            return Self.json(.created, result)
        case (.patch, let name?), (.put, let name?):
            guard let object else { return Self.status(400, "BadRequest", "no body") }
            let contentType = req.headers[.contentType] ?? ""
            // As a real API server: an apply body is YAML, and YAML 1.1 has no `\/` escape (JSON encoders write one by default).
            if contentType.contains("apply-patch+yaml"), bodyText.contains("\\/") {
                return Self.status(400, "BadRequest", "error decoding YAML: error converting YAML to JSON: yaml: found unknown escape character while parsing a quoted scalar")
            }
            let result = state.withLock { s -> Data? in
                let existing = s.objects[Self.key(t, name: name)].flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                if req.method == .put {
                    guard var e = existing else { return nil }
                    if t.subresource == "status" { e["status"] = object["status"] } else { e = object }
                    return Self.store(&s, t, name, e, type: nil, at: now)
                }
                if existing == nil && !contentType.contains("apply-patch") { return nil }
                if query["dryRun"] != nil { return (try? JSONSerialization.data(withJSONObject: Self.merge(existing, object, nullDeletes: false))) ?? Data() }
                let merged = Self.merge(existing, object, nullDeletes: contentType.contains("merge-patch")) as? [String: Any] ?? object
                return Self.store(&s, t, name, merged, type: nil, at: now)
            }
            guard let result else { return Self.status(404, "NotFound", "\(t.collection) \"\(name)\" not found") }
            return Self.json(.ok, result)
        case (.delete, let name?):
            let found = state.withLock { s -> Bool in
                guard s.objects[Self.key(t, name: name)] != nil else { return false }
                Self.drop(&s, t, name)
                return true
            }
            return found ? Self.json(.ok, Data(#"{"kind":"Status","status":"Success"}"#.utf8)) : Self.status(404, "NotFound", "\(t.collection) \"\(name)\" not found")
        default:
            return Self.status(405, "MethodNotAllowed", "\(req.method) \(req.uri.path)")
        }
    }

    func watch(_ t: Target, from start: Int, selector: String?, timeout: Int) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
            var rv = start
            let end = self.clock.elapsed + .seconds(timeout)
            while self.clock.elapsed < end {
                let (events, latest) = self.state.withLock { s in
                    (s.events.filter { $0.rv > rv && $0.collection == t.collection && (t.namespace == nil || $0.namespace == t.namespace) && Self.matches($0.object, selector: selector) }, s.rv)
                }
                for e in events {
                    var line = Data(#"{"type":"\#(e.type)","object":"#.utf8)
                    line.append(e.object)
                    line.append(contentsOf: Array("}\n".utf8))
                    try await writer.write(ByteBuffer(bytes: line))
                }
                rv = latest
                try await Task.sleep(for: .milliseconds(10))
            }
            try await writer.finish(nil)
        })
    }

    /// Starts the server on a free loopback port; returns its URL and the task to cancel.
    public func start() async throws -> (String, Task<Void, any Error>) {
        let port = AsyncStream<Int>.makeStream()
        let app = Application(router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in port.continuation.yield(ch.localAddress?.port ?? 0) })
        let task = Task { try await app.run() }
        var it = port.stream.makeAsyncIterator()
        guard let p = await it.next() else { throw CancellationError() }
        return ("http://127.0.0.1:\(p)", task)
    }
}
