import Foundation

/// `POST /v1/reviews`: a person's review of a serving document. Send the document itself (`document`: its text, as
/// `tarmac submit` would send it; its digest, team, kind and name are read from it), or its `digest` with `team`, `kind`
/// and `name` (what a refused submit prints).
public struct ReviewRequest: Codable, Sendable, Hashable {
    public var document: String?
    public var digest: String?
    public var team: String?
    public var kind: String?
    public var name: String?
    public var comment: String?
    public init(document: String? = nil, digest: String? = nil, team: String? = nil, kind: String? = nil, name: String? = nil, comment: String? = nil) {
        self.document = document
        self.digest = digest
        self.team = team
        self.kind = kind
        self.name = name
        self.comment = comment
    }
}

/// One review of a serving document.
public struct ReviewView: Codable, Sendable, Hashable {
    public var team: String
    public var digest: String
    public var kind: String
    public var name: String
    public var by: String
    public var at: Date
    public var comment: String?
    public init(team: String, digest: String, kind: String, name: String, by: String, at: Date, comment: String?) {
        self.team = team
        self.digest = digest
        self.kind = kind
        self.name = name
        self.by = by
        self.at = at
        self.comment = comment
    }
}

/// `GET /v1/reviews?team=T&digest=D`: the document's reviews, oldest first.
public struct ReviewList: Codable, Sendable, Hashable {
    public var items: [ReviewView]
    public init(items: [ReviewView]) { self.items = items }
}
