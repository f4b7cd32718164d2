import Foundation
import TarmacAPI
import TarmacCore
import TarmacDelivery
import TarmacModel

/// The model registry's rules, between the API and the store: who may register, read and move what; what a version
/// must carry; where its files must already be. Every change goes to the store with its audit record; a refused
/// request writes nothing.
public struct ModelRegistry: Sendable {
    let store: any RegistryStore
    let controlPlane: ControlPlane
    /// Where Tarmac keeps model files, one directory per team (nil: only versions with an external URI can be registered).
    public let artifacts: ModelArtifacts?

    /// The team whose files a caller sends or asks about: the one named, else the caller's own; a member of the team or
    /// an admin.
    public func files(team asked: String?, by p: Principal) throws -> ModelArtifacts {
        guard let artifacts else {
            throw RuntimeError(.invalid, "this server keeps no model files: register versions with their uri (s3://, gs://, hf://, oci://)")
        }
        let t = try team(asked, for: p)
        try Access.require(p, .change(team: t), "\(p.name) cannot send model files for team \(t)")
        do { return try artifacts.team(t) } catch { throw RuntimeError(.internalError, "\(error)") }
    }

    public init(store: any RegistryStore, controlPlane: ControlPlane, artifacts: ModelArtifacts?) {
        self.store = store
        self.controlPlane = controlPlane
        self.artifacts = artifacts
    }

    /// The URI schemes of files kept outside Tarmac.
    public static let externalSchemes = ["s3", "gs", "hf", "oci"]

    // MARK: register

    public func register(model: String, _ r: ModelRegistration, by p: Principal) async throws -> (version: ModelVersion, created: Bool) {
        let team = try team(r.team, for: p)
        try Access.require(p, .change(team: team), "\(p.name) cannot register models of team \(team)")
        var problems: [String] = []
        if let bad = Self.nameProblem(model, what: "a model name") { problems.append(bad) }
        var version: SemanticVersion?
        switch SemanticVersion.parse(r.version) {
        case .success(let v): version = v
        case .failure(let e): problems.append("version '\(r.version)': \(e.description)")
        }
        problems += Self.manifestProblems(r.files)
        let manifest = ModelManifest(files: r.files.map { ModelManifest.File(path: $0.path, sha256: $0.sha256.lowercased(), size: $0.size) })
        let artifact: ModelVersion.Artifact
        if let uri = r.uri {
            let scheme = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            if !uri.contains("://") || !Self.externalSchemes.contains(scheme) {
                problems.append("uri '\(uri)' is not one of \(Self.externalSchemes.map { "\($0)://" }.joined(separator: ", ")) (to have Tarmac keep the files, send them and leave uri out)")
            }
            artifact = .external(uri: uri)
        } else {
            if let artifacts {
                let missing = try artifacts.team(team).missing(manifest)
                if !missing.isEmpty {
                    problems.append("\(missing.count) of the manifest's files were not sent (\(missing.prefix(3).map(\.path).joined(separator: ", "))\(missing.count > 3 ? ", …" : "")): PUT each to /v1/models/blobs/sha256:HEX first (tarmac model register does)")
                }
            } else {
                problems.append("this server keeps no model files: give the version's uri (s3://, gs://, hf://, oci://)")
            }
            artifact = .stored(digest: manifest.digest)
        }
        if let s = r.signature, Data(base64Encoded: s.filter { !$0.isWhitespace }) == nil {
            problems.append("the signature is not base64 (send what `openssl dgst -sha256 -sign KEY manifest.json | base64 -w0` prints)")
        }
        for (k, v) in r.labels ?? [:] where k.isEmpty || k.count > 63 || v.count > 253 {
            problems.append("label '\(k.prefix(70))': keys have 1 to 63 characters, values at most 253")
        }
        var lineage: ModelVersion.Lineage?
        if let job = r.fromJob {
            do {
                let e = try await controlPlane.find(job, team: team, by: p)
                if e.kind != "TrainingJob" {
                    problems.append("--from-job \(job) is a \(e.kind), not a TrainingJob")
                } else if let a = r.attempt, a < 1 || a > e.attempt {
                    problems.append("--from-job \(job) has attempts 1 to \(e.attempt), not \(a)")
                } else {
                    lineage = ModelVersion.Lineage(workload: e.id, attempt: r.attempt ?? max(1, e.attempt), checkpoint: r.checkpoint)
                }
            } catch let e as RuntimeError where e.code == .notFound {
                problems.append("--from-job: \(e.message)")
            }
        } else if r.attempt != nil || r.checkpoint != nil {
            problems.append("attempt and checkpoint belong to a lineage: name the TrainingJob too (fromJob)")
        }
        guard problems.isEmpty, let version else {
            throw RuntimeError(.invalid, problems.count == 1 ? problems[0] : "the version cannot be registered: " + problems.joined(separator: "; "))
        }
        let v = ModelVersion(team: team, model: model, version: version, manifest: manifest, artifact: artifact, signature: r.signature,
                             format: r.format, framework: r.framework, lineage: lineage, owner: r.owner, labels: r.labels ?? [:],
                             registeredBy: p.name, registeredAt: controlPlane.clock.now)
        var detail = "\(manifest.files.count) files, \(manifest.totalBytes) bytes, manifest \(manifest.digest)"
        if case .external(let uri) = artifact { detail += ", at \(uri)" }
        if r.signature != nil { detail += ", signed" }
        if let l = lineage { detail += ", from \(l.workload) attempt \(l.attempt ?? 1)\(l.checkpoint.map { " checkpoint \($0)" } ?? "")" }
        let audit = AuditDraft(time: v.registeredAt, actor: p.actor, action: "model-register", object: "model/\(team)/\(v.reference)",
                               after: manifest.digest, detail: detail)
        let result = try await store.register(v, audit: audit)
        if !result.created {
            // Versions are immutable: the same content again is the same registration; other content is refused.
            guard result.version.manifest == manifest, result.version.artifact == artifact else {
                throw RuntimeError(.conflict, "\(team)/\(result.version.reference) is registered already, with other files "
                                   + "(\(result.version.manifest.digest)); a version never changes: register a new one")
            }
        }
        return result
    }

    // MARK: read

    /// Versions of the models the caller may see (one team's when named), in registry order.
    public func versions(team: String?, model: String?, by p: Principal) async throws -> [ModelVersion] {
        if let team { try checkTeam(team) }
        let all = try await store.modelVersions(team: team, model: model)
        return all.filter { p.canRead(team: $0.team) }
    }

    /// One model of a team (another team's answers like one that does not exist).
    public func model(_ name: String, team: String?, by p: Principal) async throws -> (versions: [ModelVersion], aliases: [ModelAlias]) {
        let versions = try await versions(team: team, model: name, by: p)
        let teams = Set(versions.map(\.team))
        guard let t = teams.first else { throw notFound(name, team: team ?? p.team) }
        guard teams.count == 1 else {
            throw RuntimeError(.invalid, "teams \(teams.sorted().joined(separator: " and ")) each have a model named \(name): say which (team)")
        }
        return (versions, try await store.aliases(team: t, model: name))
    }

    /// A version by number or alias (`1.4.0`, `champion`).
    public func version(_ name: String, _ ref: String, team: String?, by p: Principal) async throws -> ModelVersion {
        let (versions, aliases) = try await model(name, team: team, by: p)
        if case .success(let v) = SemanticVersion.parse(ref), let found = versions.first(where: { $0.version.hasSamePrecedence(as: v) }) { return found }
        if let a = aliases.first(where: { $0.name == ref }), let found = versions.first(where: { $0.version == a.version }) { return found }
        let known = versions.map(\.version.description) + aliases.map(\.name)
        let hint = Suggestions.closest(to: ref, in: known).map { "; did you mean '\($0)'?" } ?? ""
        throw RuntimeError(.notFound, "\(name) has no version or alias '\(ref)'\(hint) (versions: \(versions.map(\.version.description).joined(separator: ", ")))")
    }

    // MARK: aliases

    /// Moves an alias to a version (creating it), compare-and-set when `expected` is given.
    public func moveAlias(_ model: String, alias: String, _ m: AliasMove, by p: Principal) async throws -> ModelAlias {
        let (versions, aliases) = try await self.model(model, team: m.team, by: p)
        let team = versions[0].team
        try Access.require(p, .change(team: team), "\(p.name) cannot move aliases of team \(team)'s models")
        if let bad = Self.nameProblem(alias, what: "an alias") { throw RuntimeError(.invalid, bad) }
        if case .success = SemanticVersion.parse(alias) {
            throw RuntimeError(.invalid, "an alias cannot look like a version ('\(alias)'): name it by its role (champion, staging, prod)")
        }
        if let env = protectingEnvironment(alias) {
            throw RuntimeError(.forbidden, "\(model)@\(alias) is protected by environment \(env)'s promotion contract: it moves only through "
                               + "`tarmac model promote \(model)@VERSION --env \(env)`, which checks every gate")
        }
        let target = try await version(model, m.version, team: team, by: p)
        let current = aliases.first { $0.name == alias }
        var expected = current?.version
        if let e = m.expected {
            guard case .success(let ev) = SemanticVersion.parse(e) else { throw RuntimeError(.invalid, "expected '\(e)' is not a version") }
            guard current?.version.hasSamePrecedence(as: ev) == true else {
                throw RuntimeError(.conflict, "\(model)@\(alias) points at \(current.map { $0.version.description } ?? "nothing"), not \(e): someone moved it first")
            }
            expected = current?.version
        }
        let now = controlPlane.clock.now
        let moved = ModelAlias(team: team, model: model, name: alias, version: target.version, movedBy: p.name, movedAt: now)
        let audit = AuditDraft(time: now, actor: p.actor, action: "model-alias", object: "model/\(team)/\(model)@\(alias)",
                               before: current?.version.description ?? "", after: target.version.description,
                               detail: "\(model)@\(alias) -> \(target.version) (\(target.manifest.digest))")
        guard try await store.moveAlias(moved, expected: expected, audit: audit) else {
            throw RuntimeError(.conflict, "\(model)@\(alias) moved while this request was on its way: read it again and retry")
        }
        return moved
    }

    // MARK: rules

    /// DNS-label names: lowercase letters, digits and '-', 1 to 63, starting and ending with a letter or digit.
    static func nameProblem(_ s: String, what: String) -> String? {
        let ok = (1...63).contains(s.utf8.count) && s.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
            && s.utf8.first != 0x2D && s.utf8.last != 0x2D
        return ok ? nil : "'\(s)' is not \(what): use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    }

    static func manifestProblems(_ files: [ModelFileView]) -> [String] {
        var out: [String] = []
        if files.isEmpty { out.append("the manifest lists no files") }
        var seen: Set<String> = []
        for f in files {
            if !seen.insert(f.path).inserted { out.append("\(f.path) is listed twice") }
            if f.path.isEmpty || f.path.hasPrefix("/") || f.path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
                out.append("'\(f.path)' is not a relative path inside the model")
            }
            if ModelArtifacts.hex(of: f.sha256.lowercased()) == nil || f.sha256.hasPrefix("sha256:") { out.append("\(f.path): sha256 must be 64 hex digits") }
            if f.size < 0 { out.append("\(f.path): size is negative") }
            if out.count >= 20 { break }
        }
        return out
    }

    func team(_ asked: String?, for p: Principal) throws -> String {
        guard let t = asked ?? p.team else {
            throw RuntimeError(.invalid, "say which team the model belongs to (team; --team on the command line): \(p.name) is bound to none")
        }
        try checkTeam(t)
        return t
    }

    func checkTeam(_ t: String) throws {
        let teams = controlPlane.platform.teams.keys.sorted()
        guard teams.contains(t) else {
            let hint = Suggestions.closest(to: t, in: teams).map { "; did you mean '\($0)'?" } ?? " (teams: \(teams.joined(separator: ", ")))"
            throw RuntimeError(.notFound, "no team '\(t)' in the platform contract\(hint)")
        }
    }

    func notFound(_ model: String, team: String?) -> RuntimeError {
        RuntimeError(.notFound, "no model named '\(model)'\(team.map { " in team \($0)" } ?? "")")
    }
}
