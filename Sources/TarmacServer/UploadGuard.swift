import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// How large a request body may be, by route: a working directory's archive (`PUT /v1/workdirs/...`) may be as large as
/// the store takes; every other body at most 1 MiB.
public struct BodyLimits: Sendable {
    public var upload: Int
    public var other: Int
    /// One model file (`PUT /v1/blobs/{digest}`).
    public var modelFile: Int
    /// A model version's registration, with its manifest (`POST /v1/models/{model}/versions`).
    public static let registration = 16 << 20

    public init(upload: Int = ServerLimits.maxUpload, other: Int = ServerLimits.maxBody, modelFile: Int = ServerLimits.maxModelFile) {
        self.upload = upload
        self.other = other
        self.modelFile = modelFile
    }

    /// The limit for a request to `path`, and how to name it in a refusal.
    public func limit(forPath path: String) -> (bytes: Int, what: String) {
        if path.hasPrefix("/v1/workdirs/") || path == "/portal/workdir" {
            return (upload, "a working directory's archive may be at most \(Self.size(upload))" + (upload > 1 << 20 ? " (\(Self.size(upload - (1 << 20))) of files and the archive's headers)" : ""))
        }
        if path.hasPrefix("/v1/blobs/") { return (modelFile, "a model file may be at most \(Self.size(modelFile)) (tarmac up --model-file-limit)") }
        if path.hasPrefix("/v1/models/"), path.hasSuffix("/versions") {
            return (Self.registration, "a version's registration, with its manifest, may be at most \(Self.size(Self.registration))")
        }
        return (other, "a request body to \(path) may be at most \(Self.size(other))")
    }

    /// `64 MiB`, `1.9 MiB`, `512 KiB`.
    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 30 { return bytes % (1 << 30) == 0 ? "\(bytes >> 30) GiB" : String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        guard bytes >= 1 << 20 else { return "\(bytes >> 10) KiB" }
        let tenths = (Double(bytes) / Double(1 << 20) * 10).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths)) MiB" : String(format: "%.1f MiB", tenths)
    }
}

/// Answers an over-limit or stalled upload itself, at once, before the route reads it: 413 as soon as the declared
/// `Content-Length` or the bytes received pass the route's limit (plain or chunked), 408 when no byte of a body came for
/// `idleTimeout`; both with `Connection: close`, the limit (or the wait) named. The connection is then closed for
/// writing and what the client still sends is read and dropped for up to `linger` (so it reads the answer instead of a
/// reset), then closed. Nothing of such a request reaches the route. Sits between Hummingbird's HTTP codec and its
/// request handling, on the connection's event loop.
final class UploadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: BodyLimits
    let idleTimeout: TimeAmount
    let linger: TimeAmount

    private var limit = Int.max
    private var what = ""
    private var received = 0
    private var inBody = false
    /// The route's answer to the current request has begun (a refusal then only closes the connection).
    private var answered = false
    /// This handler answered: everything else of the connection is dropped.
    private var refused = false
    private var timer: Scheduled<Void>?

    init(limits: BodyLimits, idleTimeout: TimeAmount, linger: TimeAmount = .seconds(2)) {
        self.limits = limits
        self.idleTimeout = idleTimeout
        self.linger = linger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        switch unwrapInboundIn(data) {
        case .head(let request):
            (limit, what) = limits.limit(forPath: request.path.map { String($0.split(separator: "?", maxSplits: 1).first ?? "") } ?? "")
            received = 0
            answered = false
            if let declared = request.headerFields[.contentLength].flatMap(Int.init), declared > limit {
                return refuse(context, .contentTooLarge, "the body is \(BodyLimits.size(declared)) (Content-Length); \(what)")
            }
            inBody = true
            arm(context)
            context.fireChannelRead(data)
        case .body(let bytes):
            received += bytes.readableBytes
            if received > limit {
                return refuse(context, .contentTooLarge, "the body is larger than the limit: \(what)")
            }
            arm(context)
            context.fireChannelRead(data)
        case .end:
            inBody = false
            timer?.cancel()
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if refused {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if case .head(let response) = unwrapOutboundIn(data), response.status.code >= 200 { answered = true }
        context.write(data, promise: promise)
    }

    /// No byte of the body for `idleTimeout`: the upload stalled.
    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let seconds = idleTimeout.nanoseconds / 1_000_000_000
        timer = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (handler, context) = loopBound.value
            guard handler.inBody, !handler.refused else { return }
            handler.refuse(context, .requestTimeout, "the upload stalled: no byte of its body came for \(seconds) s")
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ message: String) {
        refused = true
        inBody = false
        timer?.cancel()
        guard !answered else {
            // The route answered already: the rest of the body is not wanted.
            context.close(promise: nil)
            return
        }
        let code = status == .contentTooLarge ? "tooLarge" : "timeout"
        let body = (try? JSONSerialization.data(withJSONObject: ["error": ["code": code, "message": message, "diagnostics": [Any]()]], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        let linger = self.linger
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            // Half-closed: the client reads the answer; what it still sends is dropped, for a while.
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }
}
