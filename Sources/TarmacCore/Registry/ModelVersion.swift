import Foundation
import TarmacDelivery

/// One registered version of a team's model: its files (the manifest every later check compares against), where its
/// bytes are, who made it and from what. Stored; the API shows it as its own view.
public struct ModelVersion: Codable, Sendable, Hashable {
    /// Where the bytes are: kept by Tarmac under the data directory by the digest of their archive, or at an external
    /// URI (`s3://`, `gs://`, `hf://`, `oci://`) whose files the manifest lists.
    public enum Artifact: Codable, Sendable, Hashable {
        case stored(digest: String)
        case external(uri: String)
    }

    /// The TrainingJob (workload id and attempt) and checkpoint it came from.
    public struct Lineage: Codable, Sendable, Hashable {
        public var workload: String
        public var attempt: Int?
        public var checkpoint: String?
        public init(workload: String, attempt: Int? = nil, checkpoint: String? = nil) {
            self.workload = workload
            self.attempt = attempt
            self.checkpoint = checkpoint
        }
    }

    public var team: String
    public var model: String
    public var version: SemanticVersion
    public var manifest: ModelManifest
    public var artifact: Artifact
    /// Base64 DER ECDSA P-256 over `manifest.canonical`, when signed.
    public var signature: String?
    public var format: String?
    public var framework: String?
    public var lineage: Lineage?
    public var owner: String?
    public var labels: [String: String]
    public var registeredBy: String
    public var registeredAt: Date

    public init(team: String, model: String, version: SemanticVersion, manifest: ModelManifest, artifact: Artifact, signature: String? = nil,
                format: String? = nil, framework: String? = nil, lineage: Lineage? = nil, owner: String? = nil, labels: [String: String] = [:],
                registeredBy: String, registeredAt: Date) {
        self.team = team
        self.model = model
        self.version = version
        self.manifest = manifest
        self.artifact = artifact
        self.signature = signature
        self.format = format
        self.framework = framework
        self.lineage = lineage
        self.owner = owner
        self.labels = labels
        self.registeredBy = registeredBy
        self.registeredAt = registeredAt
    }

    /// `model@version`, as documents and the audit trail name it.
    public var reference: String { "\(model)@\(version)" }
}

/// A name that points at one version of a model (`ranker@champion`) and moves: each move is audited.
public struct ModelAlias: Codable, Sendable, Hashable {
    public var team: String
    public var model: String
    public var name: String
    public var version: SemanticVersion
    public var movedBy: String
    public var movedAt: Date

    public init(team: String, model: String, name: String, version: SemanticVersion, movedBy: String, movedAt: Date) {
        self.team = team
        self.model = model
        self.name = name
        self.version = version
        self.movedBy = movedBy
        self.movedAt = movedAt
    }
}

/// A person's approval of a version's manifest (its digest): the review a promotion contract may ask for, from someone
/// other than the version's author.
public struct ModelApproval: Codable, Sendable, Hashable {
    public var team: String
    public var model: String
    public var version: SemanticVersion
    /// The manifest digest approved: an approval is of these exact files.
    public var digest: String
    public var by: String
    public var at: Date
    public var comment: String?

    public init(team: String, model: String, version: SemanticVersion, digest: String, by: String, at: Date, comment: String? = nil) {
        self.team = team
        self.model = model
        self.version = version
        self.digest = digest
        self.by = by
        self.at = at
        self.comment = comment
    }
}
