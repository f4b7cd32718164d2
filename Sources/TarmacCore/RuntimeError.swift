import TarmacAPI

/// Errors with a code for the API layer to map.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalid, notFound, conflict, forbidden, unauthorized, unavailable, internalError
    }
    public var code: Code
    public var message: String
    /// Validation problems, when `code == .invalid`.
    public var diagnostics: [DiagnosticPayload]

    public init(_ code: Code, _ message: String, diagnostics: [DiagnosticPayload] = []) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }

    public var description: String { message }
}
