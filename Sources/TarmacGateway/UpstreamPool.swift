import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive HTTP/1.1 connections to plain-HTTP upstreams, one request at a time on each, on SwiftNIO directly.
///
/// Connections belong to an event loop: a call made on the loop that serves the agent's connection reuses a connection
/// of that loop, so the whole call (read, checks, upstream, answer) stays on one thread with no hop.
///
/// Why not AsyncHTTPClient here: on this path it costs about 100 µs of CPU per call (measured with
/// `TarmacBenchmarks gateway`: Hummingbird alone answered 29,600 calls/s on two cores, Hummingbird forwarding through
/// AsyncHTTPClient 7,600/s), and a gateway forwards every call. HTTPS upstreams still go through AsyncHTTPClient.
///
/// The answer comes as events (head, body parts, end) to a callback on that loop, not as a future (a gateway forwards
/// every call, and each future is an allocation and a list of callbacks), so a caller can pass a stream on as it
/// arrives (MCP's server-sent events) or collect it (`execute(…completion:)`).
///
/// A reused connection that the upstream closed before answering is retried once on a new one for idempotent methods;
/// others are never sent twice, and are never sent on a connection idle for longer than `staleAfter`.
final class UpstreamPool: Sendable {
    typealias Completion = (Result<Answer, Failure>) -> Void

    /// What an upstream answer brings, in order: `head`, any `body` parts, then `end`; or `failed` at any point.
    enum Event {
        case head(HTTPResponseHead, Stream)
        case body(ByteBuffer)
        case end
        case failed(Failure)
    }
    typealias Events = (Event) -> Void

    /// The upstream connection of an answer being passed on: reading pauses while the agent cannot take more.
    struct Stream {
        let channel: any Channel
        func pause() { try? channel.syncOptions?.setOption(.autoRead, value: false) }
        func resume() {
            try? channel.syncOptions?.setOption(.autoRead, value: true)
            channel.read()
        }
        /// The agent went away: the rest of the answer is not wanted, and the connection cannot be reused.
        func cancel() { channel.close(promise: nil) }
    }

    struct Idle {
        var channel: any Channel
        var handler: NIOLoopBound<AnswerHandler>
        var since: NIODeadline
    }

    struct Key: Hashable {
        var loop: ObjectIdentifier
        var host: String
        var port: Int
    }

    let staleAfter: TimeAmount
    private let idle = Mutex<[Key: [Idle]]>([:])
    private let maxIdlePerHost = 512

    init(staleAfter: TimeAmount = .seconds(2)) {
        self.staleAfter = staleAfter
    }

    struct Answer {
        var head: HTTPResponseHead
        var body: ByteBuffer
    }

    /// An answer put together from its events (the first part of its body is kept, not copied).
    struct Gathered {
        var head: HTTPResponseHead
        var body: ByteBuffer?
        mutating func add(_ part: inout ByteBuffer) {
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        }
        var answer: Answer { Answer(head: head, body: body ?? ByteBuffer()) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Closed before any byte of the answer: safe to retry an idempotent request.
        var beforeAnswer: Bool
        /// No connection could be made: the request was never sent, so any request may go elsewhere.
        var notSent = false
    }

    /// Sends one request on a connection of `loop` and collects its answer; `completion` runs once, on `loop`. Call it
    /// on `loop`.
    func execute(on loop: any EventLoop, host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount,
                 completion: @escaping Completion) {
        var gathered: Gathered?
        execute(on: loop, host: host, port: port, head: head, body: body, timeout: timeout) { event in
            switch event {
            case .head(let h, _): gathered = Gathered(head: h)
            case .body(var b): gathered?.add(&b)
            case .end:
                guard let g = gathered else { return completion(.failure(Failure(description: "the upstream ended without an answer", beforeAnswer: false))) }
                completion(.success(g.answer))
            case .failed(let f): completion(.failure(f))
            }
        }
    }

    /// Sends one request on a connection of `loop`; `events` run on `loop`, ending with `end` or `failed`. The timeout
    /// is for each wait: for the head, then from one part of the answer to the next. Call it on `loop`.
    func execute(on loop: any EventLoop, host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount,
                 events: @escaping Events) {
        loop.preconditionInEventLoop()
        let key = Key(loop: ObjectIdentifier(loop), host: host, port: port)
        let idempotent: Bool
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: idempotent = true
        default: idempotent = false
        }
        guard let reused = take(key, fresh: !idempotent) else {
            return connectAndSend(on: loop, key: key, head: head, body: body, timeout: timeout, events: events)
        }
        send(on: reused, key: key, head: head, body: body, timeout: timeout) { event in
            // The upstream closed the idle connection: once more on a new one.
            if case .failed(let f) = event, f.beforeAnswer, idempotent {
                self.connectAndSend(on: loop, key: key, head: head, body: body, timeout: timeout, events: events)
            } else {
                events(event)
            }
        }
    }

    private func connectAndSend(on loop: any EventLoop, key: Key, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount, events: @escaping Events) {
        let done = NIOLoopBound(events, eventLoop: loop)
        let handler = NIOLoopBound(AnswerHandler(), eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
            .connect(host: key.host, port: key.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.send(on: Idle(channel: channel, handler: handler, since: .now()), key: key, head: head, body: body, timeout: timeout, events: done.value)
                case .failure(let error):
                    done.value(.failed(Failure(description: "\(error)", beforeAnswer: true, notSent: true)))
                }
            }
    }

    private func take(_ key: Key, fresh: Bool) -> Idle? {
        let now = NIODeadline.now()
        return idle.withLock { pool -> Idle? in
            while let last = pool[key]?.popLast() {
                if last.channel.isActive && (!fresh || now - last.since < staleAfter) { return last }
                last.channel.close(promise: nil)
            }
            return nil
        }
    }

    private func giveBack(_ connection: Idle, key: Key) -> Bool {
        idle.withLock { pool -> Bool in
            guard pool[key, default: []].count < maxIdlePerHost else { return false }
            pool[key, default: []].append(connection)
            return true
        }
    }

    private func send(on connection: Idle, key: Key, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount, events: @escaping Events) {
        let channel = connection.channel
        var keepAlive = false
        connection.handler.value.start(timeout: timeout, channel: channel) { event in
            switch event {
            case .head(let h, _):
                keepAlive = h.isKeepAlive
            case .end:
                var back = connection
                back.since = .now()
                // Reading may have been paused for a slow agent; an idle connection reads (and so sees a close).
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                if !(keepAlive && channel.isActive && self.giveBack(back, key: key)) { channel.close(promise: nil) }
            case .body, .failed:
                break
            }
            events(event)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }
}

/// Passes on one answer at a time as events; fails it when the connection closes, errs or times out first.
///
/// The timeout costs no timer per request: one timer per connection, armed at the first request, fires at the deadline
/// then in force or, when the deadline moved (a later request, a part of the answer that came), is armed again for it.
final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var events: UpstreamPool.Events?
    private var answered = false
    private var timeout = TimeAmount.seconds(0)
    private var deadline = NIODeadline.distantFuture
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?

    /// Runs on the channel's event loop, as every method of this handler does.
    func start(timeout: TimeAmount, channel: any Channel, events: @escaping UpstreamPool.Events) {
        self.events = events
        self.timeout = timeout
        answered = false
        deadline = .now() + timeout
        // A timer that fires later than this deadline is armed again (a shorter timeout than the one before).
        if let t = timer, t.at > deadline {
            t.task.cancel()
            timer = nil
        }
        if timer == nil { arm(channel) }
    }

    private func arm(_ channel: any Channel) {
        let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
        timer = (channel.eventLoop.scheduleTask(deadline: deadline) { handler.value.timerFired(channel) }, deadline)
    }

    private func timerFired(_ channel: any Channel) {
        timer = nil
        guard events != nil else { return }
        if NIODeadline.now() >= deadline {
            fail(UpstreamPool.Failure(description: answered ? "the upstream sent nothing more in time" : "the upstream did not answer in time", beforeAnswer: false))
            channel.close(promise: nil)
        } else {
            arm(channel)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let events else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            answered = true
            deadline = .now() + timeout
            events(.head(h, UpstreamPool.Stream(channel: context.channel)))
        case .body(let b):
            deadline = .now() + timeout
            events(.body(b))
        case .end:
            self.events = nil
            events(.end)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        fail(UpstreamPool.Failure(description: "the upstream closed the connection", beforeAnswer: !answered))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(UpstreamPool.Failure(description: "\(error)", beforeAnswer: !answered))
        context.close(promise: nil)
    }

    private func fail(_ e: UpstreamPool.Failure) {
        guard let events else { return }
        self.events = nil
        events(.failed(e))
    }
}
