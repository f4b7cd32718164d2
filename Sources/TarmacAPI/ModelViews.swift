import Foundation

/// One file of a model version (`ModelVersionView.manifest`).
public struct ModelFileView: Codable, Sendable, Hashable {
    public var path: String
    public var sha256: String
    public var size: Int64
    public init(path: String, sha256: String, size: Int64) {
        self.path = path
        self.sha256 = sha256
        self.size = size
    }
}

/// `POST /v1/models/{model}/versions`: a version to register. The files come first (`PUT /v1/models/blobs/{digest}`)
/// unless `uri` names where they are kept.
public struct ModelRegistration: Codable, Sendable, Hashable {
    /// The team whose model it is (a member's own team when left out).
    public var team: String?
    /// A semantic version: `1.4.0`, `2.0.0-rc.1`.
    public var version: String
    /// Every file with its SHA-256 and size, as `tarmac model manifest DIR` writes it.
    public var files: [ModelFileView]
    /// Where the files are kept instead of by Tarmac: `s3://`, `gs://`, `hf://` or `oci://`.
    public var uri: String?
    /// Base64 DER ECDSA P-256 signature over the manifest's canonical bytes.
    public var signature: String?
    public var format: String?
    public var framework: String?
    /// The TrainingJob (name or id) that produced it, its attempt and checkpoint.
    public var fromJob: String?
    public var attempt: Int?
    public var checkpoint: String?
    public var owner: String?
    public var labels: [String: String]?

    public init(team: String? = nil, version: String, files: [ModelFileView], uri: String? = nil, signature: String? = nil, format: String? = nil,
                framework: String? = nil, fromJob: String? = nil, attempt: Int? = nil, checkpoint: String? = nil, owner: String? = nil,
                labels: [String: String]? = nil) {
        self.team = team
        self.version = version
        self.files = files
        self.uri = uri
        self.signature = signature
        self.format = format
        self.framework = framework
        self.fromJob = fromJob
        self.attempt = attempt
        self.checkpoint = checkpoint
        self.owner = owner
        self.labels = labels
    }
}

/// A registered version as the API shows it.
public struct ModelVersionView: Codable, Sendable, Hashable {
    public struct Lineage: Codable, Sendable, Hashable {
        public var workload: String
        public var attempt: Int?
        public var checkpoint: String?
        public init(workload: String, attempt: Int?, checkpoint: String?) {
            self.workload = workload
            self.attempt = attempt
            self.checkpoint = checkpoint
        }
    }

    public var team: String
    public var model: String
    public var version: String
    /// `sha256:` + hex of the manifest's canonical bytes: the version named by its content.
    public var digest: String
    /// `tarmac` (kept under the data directory) or the external URI.
    public var artifact: String
    public var files: Int
    public var bytes: Int64
    public var signed: Bool
    public var format: String?
    public var framework: String?
    public var lineage: Lineage?
    public var owner: String?
    public var labels: [String: String]
    /// Aliases pointing at this version now.
    public var aliases: [String]
    public var registeredBy: String
    public var registeredAt: Date
    /// Only in `GET .../versions/{version}`.
    public var manifest: [ModelFileView]?
    public var signature: String?
    /// Only in `GET .../versions/{version}`: who approved its manifest.
    public var approvals: [ApprovalView]?

    public init(team: String, model: String, version: String, digest: String, artifact: String, files: Int, bytes: Int64, signed: Bool,
                format: String?, framework: String?, lineage: Lineage?, owner: String?, labels: [String: String], aliases: [String],
                registeredBy: String, registeredAt: Date, manifest: [ModelFileView]? = nil, signature: String? = nil,
                approvals: [ApprovalView]? = nil) {
        self.approvals = approvals
        self.team = team
        self.model = model
        self.version = version
        self.digest = digest
        self.artifact = artifact
        self.files = files
        self.bytes = bytes
        self.signed = signed
        self.format = format
        self.framework = framework
        self.lineage = lineage
        self.owner = owner
        self.labels = labels
        self.aliases = aliases
        self.registeredBy = registeredBy
        self.registeredAt = registeredAt
        self.manifest = manifest
        self.signature = signature
    }
}

/// An alias and the version it points at.
public struct ModelAliasView: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var movedBy: String
    public var movedAt: Date
    public init(name: String, version: String, movedBy: String, movedAt: Date) {
        self.name = name
        self.version = version
        self.movedBy = movedBy
        self.movedAt = movedAt
    }
}

/// `GET /v1/models/{model}`: a model's versions (oldest first) and aliases.
public struct ModelView: Codable, Sendable, Hashable {
    public var team: String
    public var name: String
    public var versions: [ModelVersionView]
    public var aliases: [ModelAliasView]
    public init(team: String, name: String, versions: [ModelVersionView], aliases: [ModelAliasView]) {
        self.team = team
        self.name = name
        self.versions = versions
        self.aliases = aliases
    }
}

/// `GET /v1/models`: one line per model.
public struct ModelSummary: Codable, Sendable, Hashable {
    public var team: String
    public var name: String
    public var versions: Int
    public var latest: String
    public var aliases: [String: String]
    public init(team: String, name: String, versions: Int, latest: String, aliases: [String: String]) {
        self.team = team
        self.name = name
        self.versions = versions
        self.latest = latest
        self.aliases = aliases
    }
}

public struct ModelList: Codable, Sendable, Hashable {
    public var items: [ModelSummary]
    public init(items: [ModelSummary]) { self.items = items }
}

/// `PUT /v1/models/{model}/aliases/{alias}`.
public struct AliasMove: Codable, Sendable, Hashable {
    public var team: String?
    public var version: String
    /// The version it must point at now (compare and set); nil: it moves from wherever it is.
    public var expected: String?
    public init(team: String? = nil, version: String, expected: String? = nil) {
        self.team = team
        self.version = version
        self.expected = expected
    }
}

/// `HEAD`/`PUT /v1/models/blobs/{digest}` answer; and which of a manifest's files the server still needs
/// (`POST /v1/models/blobs/missing`).
public struct MissingBlobs: Codable, Sendable, Hashable {
    public var digests: [String]
    public init(digests: [String]) { self.digests = digests }
}
