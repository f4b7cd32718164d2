import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// What answers a gateway port's requests: the tool gateway, the inference gateway. Called on the connection's event
/// loop, once per request; it answers once through `answering`.
public protocol GatewayResponder: Sendable {
    /// The largest request body taken (larger: 413 before the body is read).
    var maxBody: Int { get }
    var logger: Logger { get }
    func respond(head: HTTPRequestHead, body: ByteBuffer, on loop: any EventLoop, to answering: Answering)
}

/// A gateway's port, served on SwiftNIO's HTTP/1.1 pipeline directly: each connection reads a request, answers it
/// through its responder (`ToolGateway`, `InferenceGateway`) on its own event loop, and keeps the connection for the
/// next one.
///
/// Why not Hummingbird here (the API's server): a gateway call is a short, synchronous series of checks followed by
/// one upstream request, and runs best where its bytes arrive. Measured with `TarmacBenchmarks gateway` on two cores,
/// Hummingbird's task per request capped the gateway at about a quarter of nginx's rate.
public struct GatewayServer: Service {
    let gateway: any GatewayResponder
    let host: String
    let port: Int
    let group: any EventLoopGroup
    let idleTimeout: TimeAmount

    public init(gateway: any GatewayResponder, host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                idleTimeout: TimeAmount = .seconds(75)) {
        self.gateway = gateway
        self.host = host
        self.port = port
        self.group = group
        self.idleTimeout = idleTimeout
    }

    /// Binds the port; the channel's local address tells the port when 0 was asked.
    public func bind() async throws -> any Channel {
        let gateway = gateway
        let idle = idleTimeout
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    // No pipelining assistance: it stops and restarts reading around every request (two epoll_ctl calls
                    // each); GatewayConnection queues pipelined requests itself.
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(GatewayConnection(gateway: gateway))
                }
            }
            .bind(host: host, port: port).get()
    }

    public func run() async throws {
        let channel = try await bind()
        gateway.logger.info("gateway listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// One agent's connection: collects a request (at most `maxBody` bytes of body, else 413 and the connection closes),
/// answers it, and reads the next one. Requests pipelined behind one being answered wait in order.
final class GatewayConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Reading {
        case idle
        case body(HTTPRequestHead, ByteBuffer)
        case tooLarge(HTTPRequestHead)
    }

    private enum Request {
        case call(HTTPRequestHead, ByteBuffer)
        case tooLarge(HTTPRequestHead)
    }

    let gateway: any GatewayResponder
    private var reading = Reading.idle
    private var answering = false
    private var draining = false
    private var waiting = CircularBuffer<Request>()
    private var closing = false
    /// The upstream of an answer being passed on as it comes (server-sent events), and whether the connection stays
    /// open after it.
    private var streaming: (upstream: UpstreamPool.Stream, keepAlive: Bool)?

    init(gateway: any GatewayResponder) { self.gateway = gateway }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), reading) {
        case (.head(let head), _):
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > gateway.maxBody {
                // Refused before its body is read; the connection closes after the answer.
                reading = .tooLarge(head)
                enqueue(.tooLarge(head), context: context)
            } else {
                reading = .body(head, context.channel.allocator.buffer(capacity: 0))
            }
        case (.body(var chunk), .body(let head, var body)):
            reading = .idle  // drop the buffer's second reference before appending
            if body.readableBytes + chunk.readableBytes > gateway.maxBody {
                reading = .tooLarge(head)
                enqueue(.tooLarge(head), context: context)
            } else {
                body.writeBuffer(&chunk)
                reading = .body(head, body)
            }
        case (.body, _):
            break
        case (.end, .body(let head, let body)):
            reading = .idle
            enqueue(.call(head, body), context: context)
        case (.end, _):
            reading = .idle
        }
    }

    private func enqueue(_ r: Request, context: ChannelHandlerContext) {
        guard !closing else { return }
        waiting.append(r)
        drain(context: context)
    }

    /// Answers waiting requests in order, one at a time; a loop rather than a recursion, as many answers come at once
    /// (pipelined requests the gateway answers itself).
    private func drain(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while !answering, !closing, let next = waiting.popFirst() { answer(next, context: context) }
    }

    private func answer(_ r: Request, context: ChannelHandlerContext) {
        answering = true
        switch r {
        case .tooLarge(let head):
            write(.problem(.payloadTooLarge, "the body is larger than \(gateway.maxBody >> 10) KiB", headers: ["Connection": "close"]),
                  for: head, context: context, close: true)
        case .call(let head, let body):
            gateway.respond(head: head, body: body, on: context.eventLoop, to: Answering(connection: self, context: context, request: head))
        }
    }

    func write(_ reply: Reply, for request: HTTPRequestHead, context: ChannelHandlerContext, close: Bool = false) {
        let keepAlive = request.isKeepAlive && !close
        var headers = reply.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(reply.body.readableBytes))
        headers.remove(name: "Transfer-Encoding")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: reply.status, headers: headers))), promise: nil)
        if request.method != .HEAD && reply.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil) }
        ended(keepAlive: keepAlive, context: context)
    }

    /// The end of an answer: the next waiting request is answered, or the connection closes after the last byte.
    private func ended(keepAlive: Bool, context: ChannelHandlerContext) {
        answering = false
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            drain(context: context)
        } else {
            closing = true
            waiting.removeAll()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// An answer passed on as it comes: its head now, framed by chunks (HTTP/1.1) or by the connection's close.
    func begin(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, upstream: UpstreamPool.Stream, for request: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = request.isKeepAlive && (request.version.major, request.version.minor) >= (1, 1)
        var h = headers
        h.remove(name: "Content-Length")
        h.remove(name: "Transfer-Encoding")
        if !keepAlive { h.replaceOrAdd(name: "Connection", value: "close") }
        streaming = (upstream, keepAlive)
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: h))), promise: nil)
    }

    /// A part of a streamed answer; the upstream pauses while the agent cannot take more.
    func part(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        if !context.channel.isWritable { streaming?.upstream.pause() }
    }

    func end(context: ChannelHandlerContext) {
        guard let s = streaming else { return }
        streaming = nil
        ended(keepAlive: s.keepAlive, context: context)
    }

    /// The upstream broke off a streamed answer: the agent sees its connection close before the end of the stream.
    func abort(context: ChannelHandlerContext) {
        streaming = nil
        closing = true
        waiting.removeAll()
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { streaming?.upstream.resume() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The agent went away in the middle of a stream: its upstream connection is not wanted any more.
        streaming?.upstream.cancel()
        streaming = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, !answering, case .idle = reading {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Where a call's answer goes: the agent's connection, in one piece (`reply`) or passed on as it comes (`begin`,
/// `part`, `end`; `abort` when the upstream breaks off). Used on the connection's event loop only.
public struct Answering {
    let connection: GatewayConnection
    let context: ChannelHandlerContext
    let request: HTTPRequestHead

    func reply(_ r: Reply) { connection.write(r, for: request, context: context) }
    func begin(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, upstream: UpstreamPool.Stream) {
        connection.begin(status, headers, upstream: upstream, for: request, context: context)
    }
    func part(_ bytes: ByteBuffer) { connection.part(bytes, context: context) }
    func end() { connection.end(context: context) }
    func abort() { connection.abort(context: context) }
}
