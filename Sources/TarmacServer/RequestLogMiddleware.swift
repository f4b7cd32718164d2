import Hummingbird
import Logging

/// Logs each request at debug level by method, path and status only: never the query string (a client may put a
/// token or another secret there by mistake) and never a header.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            context.logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)"])
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            context.logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)"])
            throw error
        }
    }
}
