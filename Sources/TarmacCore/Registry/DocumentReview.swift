import Crypto
import Foundation

/// A person's review of a serving document (an InferenceService as submitted): its digest, approved. An environment's
/// promotion contract may ask that what serves there was reviewed by someone other than the person who submits it.
public struct DocumentReview: Codable, Sendable, Hashable {
    public var team: String
    /// `sha256:` and the hex digest of the document's text (`DocumentReview.digest(of:)`).
    public var digest: String
    /// The document's kind and name, as it said (for people reading the reviews; the digest is what counts).
    public var kind: String
    public var name: String
    public var by: String
    public var at: Date
    public var comment: String?

    public init(team: String, digest: String, kind: String, name: String, by: String, at: Date, comment: String? = nil) {
        self.team = team
        self.digest = digest
        self.kind = kind
        self.name = name
        self.by = by
        self.at = at
        self.comment = comment
    }

    /// The digest a document is reviewed under: SHA-256 of its text with trailing blank lines and spaces dropped (so
    /// the document a file splits into and the same text sent alone have one digest).
    public static func digest(of text: String) -> String {
        var t = Substring(text)
        while let last = t.last, last.isWhitespace { t = t.dropLast() }
        let hex = SHA256.hash(data: Data(t.utf8)).map { String(format: "%02x", $0) }.joined()
        return "sha256:\(hex)"
    }

    /// Whether `digest` is written as `digest(of:)` writes one.
    public static func isDigest(_ digest: String) -> Bool {
        digest.hasPrefix("sha256:") && digest.count == 71 && digest.dropFirst(7).allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
