import Foundation
import TarmacAPI
import TarmacCore
import TarmacDelivery

extension ModelVersionView {
    /// The API's view of a stored version; `full` adds the manifest and the signature.
    public init(_ v: ModelVersion, aliases: [ModelAlias], full: Bool = false) {
        let artifact: String = switch v.artifact {
        case .stored: "tarmac"
        case .external(let uri): uri
        }
        self.init(team: v.team, model: v.model, version: v.version.description, digest: v.manifest.digest, artifact: artifact,
                  files: v.manifest.files.count, bytes: v.manifest.totalBytes, signed: v.signature != nil, format: v.format, framework: v.framework,
                  lineage: v.lineage.map { Lineage(workload: $0.workload, attempt: $0.attempt, checkpoint: $0.checkpoint) }, owner: v.owner,
                  labels: v.labels, aliases: aliases.filter { $0.version == v.version }.map(\.name).sorted(), registeredBy: v.registeredBy,
                  registeredAt: v.registeredAt,
                  manifest: full ? v.manifest.files.map { ModelFileView(path: $0.path, sha256: $0.sha256, size: $0.size) } : nil,
                  signature: full ? v.signature : nil)
    }
}

extension ModelAliasView {
    public init(_ a: ModelAlias) { self.init(name: a.name, version: a.version.description, movedBy: a.movedBy, movedAt: a.movedAt) }
}

extension ModelView {
    public init(versions: [ModelVersion], aliases: [ModelAlias]) {
        self.init(team: versions.first?.team ?? "", name: versions.first?.model ?? "", versions: versions.map { ModelVersionView($0, aliases: aliases) },
                  aliases: aliases.map(ModelAliasView.init))
    }
}

extension ModelRegistry {
    /// Each model the caller may read: its number of versions, the latest, its aliases (`GET /v1/models`, the portal).
    public func summaries(team: String?, by p: Principal) async throws -> [ModelSummary] {
        let versions = try await versions(team: team, model: nil, by: p)
        var items: [ModelSummary] = []
        for group in Dictionary(grouping: versions, by: { "\($0.team)/\($0.model)" }).values {
            guard let first = group.first, let latest = group.last else { continue }
            let aliases = try await model(first.model, team: first.team, by: p).aliases
            items.append(ModelSummary(team: first.team, name: first.model, versions: group.count, latest: latest.version.description,
                                      aliases: Dictionary(aliases.map { ($0.name, $0.version.description) }, uniquingKeysWith: { a, _ in a })))
        }
        return items.sorted { ($0.team, $0.name) < ($1.team, $1.name) }
    }
}
