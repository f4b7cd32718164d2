import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive HTTP/1.1 connections to plain-HTTP upstreams, one request at a time on each, on SwiftNIO directly.
///
/// Connections belong to an event loop: a call made on the loop that serves the agent's connection reuses a connection
/// of that loop, so the whole call (read, checks, upstream, answer) stays on one thread with no hop. The answer comes
/// back through a callback on that loop, not a future: a gateway forwards every call, and each future is an allocation
/// and a callback list.
///
/// Why not AsyncHTTPClient here: on this path it costs about 100 µs of CPU per call (measured with
/// `TarmacBenchmarks gateway`: Hummingbird alone answered 29,600 calls/s on two cores, Hummingbird forwarding through
/// AsyncHTTPClient 7,600/s), and a gateway forwards every call. HTTPS upstreams still go through AsyncHTTPClient.
///
/// A reused connection that the upstream closed before answering is retried once on a new one for idempotent methods;
/// others are never sent twice, and are never sent on a connection idle for longer than `staleAfter`.
final class UpstreamPool: Sendable {
    typealias Completion = (Result<Answer, Failure>) -> Void

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

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Closed before any byte of the answer: safe to retry an idempotent request.
        var beforeAnswer: Bool
    }

    /// Sends one request on a connection of `loop`; `completion` runs once, on `loop`. Call it on `loop`.
    func execute(on loop: any EventLoop, host: String, port: Int, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount,
                 completion: @escaping Completion) {
        loop.preconditionInEventLoop()
        let key = Key(loop: ObjectIdentifier(loop), host: host, port: port)
        let idempotent: Bool
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: idempotent = true
        default: idempotent = false
        }
        guard let reused = take(key, fresh: !idempotent) else {
            return connectAndSend(on: loop, key: key, head: head, body: body, timeout: timeout, completion: completion)
        }
        send(on: reused, key: key, head: head, body: body, timeout: timeout) { result in
            // The upstream closed the idle connection: once more on a new one.
            if case .failure(let f) = result, f.beforeAnswer, idempotent {
                self.connectAndSend(on: loop, key: key, head: head, body: body, timeout: timeout, completion: completion)
            } else {
                completion(result)
            }
        }
    }

    private func connectAndSend(on loop: any EventLoop, key: Key, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount, completion: @escaping Completion) {
        let done = NIOLoopBound(completion, eventLoop: loop)
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
                    self.send(on: Idle(channel: channel, handler: handler, since: .now()), key: key, head: head, body: body, timeout: timeout, completion: done.value)
                case .failure(let error):
                    done.value(.failure(Failure(description: "\(error)", beforeAnswer: true)))
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

    private func send(on connection: Idle, key: Key, head: HTTPRequestHead, body: ByteBuffer?, timeout: TimeAmount, completion: @escaping Completion) {
        let channel = connection.channel
        connection.handler.value.start(timeout: timeout, channel: channel) { result in
            if case .success(let answer) = result {
                var back = connection
                back.since = .now()
                if !(answer.head.isKeepAlive && channel.isActive && self.giveBack(back, key: key)) { channel.close(promise: nil) }
            }
            completion(result)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }
}

/// Collects one answer at a time; fails it when the connection closes, errs or times out first.
///
/// The timeout costs no timer per request: one timer per connection, armed at the first request, fires at the deadline
/// of the request then in flight or, when a later request moved the deadline, is armed again for the new one.
final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var completion: UpstreamPool.Completion?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var deadline = NIODeadline.distantFuture
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?

    /// Runs on the channel's event loop, as every method of this handler does.
    func start(timeout: TimeAmount, channel: any Channel, completion: @escaping UpstreamPool.Completion) {
        self.completion = completion
        head = nil
        body = nil
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
        guard completion != nil else { return }
        if NIODeadline.now() >= deadline {
            fail(UpstreamPool.Failure(description: "the upstream did not answer in time", beforeAnswer: false))
            channel.close(promise: nil)
        } else {
            arm(channel)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body(var b):
            if body == nil { body = b } else { body!.writeBuffer(&b) }
        case .end:
            guard let done = completion, let h = head else { return }
            completion = nil
            let answer = UpstreamPool.Answer(head: h, body: body ?? context.channel.allocator.buffer(capacity: 0))
            head = nil
            body = nil
            done(.success(answer))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        fail(UpstreamPool.Failure(description: "the upstream closed the connection", beforeAnswer: head == nil))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(UpstreamPool.Failure(description: "\(error)", beforeAnswer: head == nil))
        context.close(promise: nil)
    }

    private func fail(_ e: UpstreamPool.Failure) {
        guard let done = completion else { return }
        completion = nil
        done(.failure(e))
    }
}
