import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
@testable import TarmacGateway

/// The gateway's upstream connections against a real upstream on loopback that answers the first request of each
/// connection and then, on the second, closes the connection or never answers: an idempotent request is sent again on
/// a new connection, a POST is not; a timeout is kept, also when it is shorter than the one of the request before.
@Suite struct UpstreamPoolTests {
    enum Second { case close, hang }

    final class Counts: Sendable {
        let connections = Atomic<Int>(0)
        let requests = Atomic<Int>(0)
    }

    /// Counts what it was sent; answers the first request of a connection with a keep-alive 200.
    struct Upstream {
        let counts = Counts()
        let channel: any Channel

        init(second: Second, group: any EventLoopGroup) async throws {
            let counts = counts
            channel = try await ServerBootstrap(group: group)
                .childChannelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(Connection(second: second, count: { counts.requests.add(1, ordering: .relaxed) }))
                        counts.connections.add(1, ordering: .relaxed)
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
        }

        var port: Int { channel.localAddress?.port ?? 0 }
        var connections: Int { counts.connections.load(ordering: .relaxed) }
        var requests: Int { counts.requests.load(ordering: .relaxed) }
    }

    final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let second: Second
        let count: @Sendable () -> Void
        var seen = 0
        var text = ""

        init(second: Second, count: @escaping @Sendable () -> Void) {
            self.second = second
            self.count = count
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            while let end = text.range(of: "\r\n\r\n") {
                text.removeSubrange(..<end.upperBound)
                seen += 1
                count()
                if seen == 1 {
                    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
                } else if second == .close {
                    context.close(promise: nil)
                }
            }
        }
    }

    static func call(_ pool: UpstreamPool, on loop: any EventLoop, port: Int, method: HTTPMethod, timeout: TimeAmount = .seconds(10)) async
        -> Result<UpstreamPool.Answer, UpstreamPool.Failure> {
        let promise = loop.makePromise(of: Result<UpstreamPool.Answer, UpstreamPool.Failure>.self)
        loop.execute {
            var headers: HTTPHeaders = ["Host": "127.0.0.1"]
            if method == .POST { headers.add(name: "Content-Length", value: "0") }
            pool.execute(on: loop, host: "127.0.0.1", port: port, head: HTTPRequestHead(version: .http1_1, method: method, uri: "/x", headers: headers),
                         body: nil, timeout: timeout) { promise.succeed($0) }
        }
        return try! await promise.futureResult.get()
    }

    /// An upstream that does `second` to each connection's second request, a pool, and the loop to call it on; all
    /// shut down after `body`, also when it throws. The pool keeps idle connections fresh for a minute, so that on a
    /// loaded machine the second request still reuses the first's connection (with the default 2 s a POST would take
    /// a new one, and the test would not test reuse).
    static func with(_ second: Second, _ body: (Upstream, UpstreamPool, any EventLoop) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = try await Upstream(second: second, group: group)
        var failure: (any Error)?
        do { try await body(upstream, UpstreamPool(staleAfter: .seconds(60)), group.next()) } catch { failure = error }
        try await upstream.channel.close()
        try await group.shutdownGracefully()
        if let failure { throw failure }
    }

    @Test func anIdempotentRequestOnAConnectionTheUpstreamClosedIsSentOnceMoreOnANewOne() async throws {
        try await Self.with(.close) { upstream, pool, loop in
            let first = await Self.call(pool, on: loop, port: upstream.port, method: .GET)
            let second = await Self.call(pool, on: loop, port: upstream.port, method: .GET)
            #expect((try? first.get().head.status) == .ok)
            #expect((try? second.get().head.status) == .ok, "\(second)")
            // The second went out twice: on the reused connection, closed unanswered, then on a new one.
            #expect(upstream.requests == 3)
            #expect(upstream.connections == 2)
        }
    }

    @Test func aPostIsNeverSentTwice() async throws {
        try await Self.with(.close) { upstream, pool, loop in
            let first = await Self.call(pool, on: loop, port: upstream.port, method: .POST)
            let second = await Self.call(pool, on: loop, port: upstream.port, method: .POST)
            #expect((try? first.get().head.status) == .ok)
            guard case .failure(let failure) = second else {
                Issue.record("the second POST succeeded: \(second)")
                return
            }
            #expect(failure.beforeAnswer && failure.description.contains("closed"))
            #expect(upstream.requests == 2)
            #expect(upstream.connections == 1)
        }
    }

    @Test func aShorterTimeoutThanTheRequestBeforeIsKept() async throws {
        try await Self.with(.hang) { upstream, pool, loop in
            // The first arms the connection's timer for a minute; the second, on the same connection, must not wait for it.
            let first = await Self.call(pool, on: loop, port: upstream.port, method: .GET, timeout: .seconds(60))
            let clock = ContinuousClock()
            let start = clock.now
            let second = await Self.call(pool, on: loop, port: upstream.port, method: .GET, timeout: .milliseconds(300))
            let waited = clock.now - start
            #expect((try? first.get().head.status) == .ok)
            guard case .failure(let failure) = second else {
                Issue.record("the second call was answered: \(second)")
                return
            }
            #expect(failure.description.contains("in time"))
            #expect(waited >= .milliseconds(300) && waited < .seconds(30), "\(waited)")
            #expect(upstream.connections == 1)
        }
    }
}
