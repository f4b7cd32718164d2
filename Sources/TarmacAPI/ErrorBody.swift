/// Every 4xx and 5xx answer of the API: `{"error": {"code", "message", "diagnostics"}}`.
public struct ErrorBody: Codable, Sendable, Hashable {
    public struct Inner: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
        /// Validation problems (code `invalid`), as `tarmac validate` prints them.
        public var diagnostics: [DiagnosticPayload]
        public init(code: String, message: String, diagnostics: [DiagnosticPayload] = []) {
            self.code = code
            self.message = message
            self.diagnostics = diagnostics
        }
    }
    public var error: Inner
    public init(error: Inner) { self.error = error }
}

/// A diagnostic as the API returns it: the same facts as `tarmac validate` prints.
public struct DiagnosticPayload: Codable, Sendable, Hashable {
    public var severity: String
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var rule: String?
    public var help: String?
    /// The line `tarmac validate` prints.
    public var text: String
    public init(severity: String, file: String, line: Int, column: Int, message: String, rule: String?, help: String?, text: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.rule = rule
        self.help = help
        self.text = text
    }
}
