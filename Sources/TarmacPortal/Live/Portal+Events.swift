import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import TarmacAPI
import TarmacCore
import TarmacRuntime

/// Live updates: the transition stream as server-sent events (`event: workload`), only of workloads the session's
/// caller may read. The session is checked again before every event, so sign-out, expiry or a revoked token ends the
/// stream at the next one.
extension Portal {
    /// How often an idle stream says it is alive.
    static var keepAlive: Duration { .seconds(15) }

    enum LiveEvent: Sendable {
        case transition(Transition)
        case tick
    }

    struct LiveWorkload: Encodable {
        var id, name, team, kind, state, size: String
        var attempt: Int
        var message: String?
        var seq: Int64
    }

    func events(_ request: Request) async -> Response {
        guard let first = await signedIn(request) else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "sign in first\n")))
        }
        if let slow = tooMany(first) { return slow }
        let cp = deps.controlPlane
        let stream = cp.transitions.subscribe()
        let portal = self
        let body = ResponseBody { writer in
            // Ends at the server's graceful shutdown (a stream would otherwise hold it open), and a comment every
            // `keepAlive` finds a client that has gone (and a session that has ended) when nothing else happens.
            let (events, feed) = AsyncStream.makeStream(of: LiveEvent.self)
            try await withGracefulShutdownHandler {
                let forward = Task {
                    for await t in stream { feed.yield(.transition(t)) }
                    feed.finish()
                }
                let ticker = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.keepAlive)
                        feed.yield(.tick)
                    }
                }
                defer {
                    forward.cancel()
                    ticker.cancel()
                    feed.finish()
                }
                try await writer.write(ByteBuffer(string: ": live transitions of workloads \(first.principal.name) may read\nretry: 2000\n\n"))
                for await event in events {
                    guard let s = await portal.signedIn(request) else { break }
                    guard case .transition(let t) = event else {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        continue
                    }
                    guard s.principal.canRead(team: t.team) else { continue }
                    let cur = await cp.current(t.workload)
                    let live = LiveWorkload(id: t.workload, name: t.name, team: t.team, kind: t.kind, state: t.to.rawValue, size: cur?.size ?? "",
                                            attempt: t.attempt, message: cur?.message, seq: t.seq)
                    let data = (try? APIJSON.encoder.encode(live)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    try await writer.write(ByteBuffer(string: "id: \(t.seq)\nevent: workload\ndata: \(data)\n\n"))
                }
            } onGracefulShutdown: {
                feed.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }
}
