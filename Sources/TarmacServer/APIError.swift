import TarmacCore
import Foundation
import Hummingbird
import TarmacAPI
import NIOCore
import TarmacRuntime

/// An error as the API returns it: `{"error": {"code", "message", "diagnostics"}}` with a matching HTTP status.
public struct APIError: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var diagnostics: [DiagnosticPayload]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, diagnostics: [DiagnosticPayload] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
        self.headers = headers
    }

    /// HTTP status for a runtime error: the only place where they meet.
    public init(_ e: RuntimeError) {
        let status: HTTPResponse.Status = switch e.code {
        case .invalid: .unprocessableContent
        case .notFound: .notFound
        case .conflict: .conflict
        case .forbidden: .forbidden
        case .unauthorized: .unauthorized
        case .unavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
        self.init(status, code: e.code.rawValue, e.message, diagnostics: e.diagnostics)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try APIJSON.encoder.encode(ErrorBody(error: .init(code: code, message: message, diagnostics: diagnostics)))
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the API's error body, so clients never see a stack trace or an empty 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    var limits = BodyLimits()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            throw e
        } catch let e as RuntimeError {
            throw APIError(e)
        } catch let e as HTTPError {
            let code = switch e.status.code {
            case 404: "notFound"
            case 413: "tooLarge"
            case 405: "methodNotAllowed"
            default: "badRequest"
            }
            throw APIError(e.status, code: code, e.body ?? e.status.reasonPhrase)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "tooLarge", "the body is larger than the limit: \(limits.limit(forPath: request.uri.path).what)",
                           headers: [.connection: "close"])
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internalError", "internal error; see the server log")
        }
    }
}

enum JSON {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: try APIJSON.encoder.encode(value))))
    }

    static func text(_ s: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: s)))
    }
}
