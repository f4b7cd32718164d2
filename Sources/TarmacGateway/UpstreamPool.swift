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
/// A reused connection that the upstream closed before answering is retried once on a new one for idempotent methods;
/// others are never sent twice, and are never sent on a connection idle for longer than `staleAfter`.
final class UpstreamPool: Sendable {
    struct Idle {
        var channel: any Channel
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

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Closed before any byte of the answer: safe to retry an idempotent request.
        var beforeAnswer: Bool
    }

    /// Sends one request on a connection of `loop` and completes on `loop`.
    func execute(on loop: any EventLoop, host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount) -> EventLoopFuture<Answer> {
        let key = Key(loop: ObjectIdentifier(loop), host: host, port: port)
        let idempotent = [.GET, .HEAD, .OPTIONS, .PUT, .DELETE].contains(head.method)
        let fresh: @Sendable () -> EventLoopFuture<Answer> = { [self] in
            connect(loop: loop, host: host, port: port).flatMap { channel in
                self.send(on: channel, key: key, head: head, body: body, timeout: timeout)
            }
        }
        guard let reused = take(key, fresh: !idempotent) else { return fresh() }
        return send(on: reused, key: key, head: head, body: body, timeout: timeout).flatMapError { error in
            // The upstream closed the idle connection: once more on a new one.
            if let f = error as? Failure, f.beforeAnswer, idempotent { return fresh() }
            return loop.makeFailedFuture(error)
        }
    }

    private func take(_ key: Key, fresh: Bool) -> (any Channel)? {
        let now = NIODeadline.now()
        return idle.withLock { pool -> (any Channel)? in
            while var list = pool[key], let last = list.popLast() {
                pool[key] = list
                if last.channel.isActive && (!fresh || now - last.since < staleAfter) { return last.channel }
                last.channel.close(promise: nil)
            }
            return nil
        }
    }

    private func giveBack(_ channel: any Channel, key: Key) {
        let keep = idle.withLock { pool -> Bool in
            var list = pool[key] ?? []
            guard list.count < maxIdlePerHost else { return false }
            list.append(Idle(channel: channel, since: .now()))
            pool[key] = list
            return true
        }
        if !keep { channel.close(promise: nil) }
    }

    private func connect(loop: any EventLoop, host: String, port: Int) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerHandler())
                }
            }
            .connect(host: host, port: port)
    }

    private func send(on channel: any Channel, key: Key, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount) -> EventLoopFuture<Answer> {
        let promise = channel.eventLoop.makePromise(of: Answer.self)
        let start: @Sendable () -> Void = {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: AnswerHandler.self) else {
                promise.fail(Failure(description: "the connection has no answer handler", beforeAnswer: true))
                return
            }
            handler.start(promise, timeout: timeout, context: channel)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        if channel.eventLoop.inEventLoop { start() } else { channel.eventLoop.execute(start) }
        return promise.futureResult.map { answer in
            if answer.head.isKeepAlive && channel.isActive { self.giveBack(channel, key: key) } else { channel.close(promise: nil) }
            return answer
        }
    }
}

/// Collects one answer at a time; fails it when the connection closes, errs or times out first.
private final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var promise: EventLoopPromise<UpstreamPool.Answer>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var timer: Scheduled<Void>?

    func start(_ p: EventLoopPromise<UpstreamPool.Answer>, timeout: TimeAmount, context channel: any Channel) {
        promise = p
        head = nil
        body = nil
        // Runs on the channel's event loop, as every method of this handler does.
        let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
        timer = channel.eventLoop.scheduleTask(in: timeout) {
            handler.value.fail(UpstreamPool.Failure(description: "the upstream did not answer in time", beforeAnswer: false))
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(var b):
            if body == nil { body = b } else { body!.writeBuffer(&b) }
        case .end:
            guard let p = promise, let h = head else { return }
            promise = nil
            timer?.cancel()
            p.succeed(UpstreamPool.Answer(head: h, body: body ?? context.channel.allocator.buffer(capacity: 0)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamPool.Failure(description: "the upstream closed the connection", beforeAnswer: head == nil))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(UpstreamPool.Failure(description: "\(error)", beforeAnswer: head == nil))
        context.close(promise: nil)
    }

    private func fail(_ e: UpstreamPool.Failure) {
        timer?.cancel()
        guard let p = promise else { return }
        promise = nil
        p.fail(e)
    }
}
