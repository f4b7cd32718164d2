import Foundation
import Logging
import TarmacKubernetes
import TarmacManifests

/// Applies the platform's cluster objects (namespaces, quotas, limit ranges, network policies, priority classes, admission
/// policies) with server-side apply as field manager `tarmac`, and reports drift: what differed from the rendered objects
/// before they were applied.
public struct PlatformSync: Sendable {
    public enum Action: String, Sendable, Codable { case created, updated, unchanged, failed, wouldCreate = "would create", wouldUpdate = "would update" }

    public struct Outcome: Sendable, Codable {
        public var kind: String
        public var namespace: String?
        public var name: String
        public var action: Action
        /// Fields that differed from the rendered object (empty for created and unchanged objects).
        public var drift: [String]
        public var error: String?
    }

    public let client: KubeClient
    public init(client: KubeClient) { self.client = client }

    /// Kinds that others depend on come first: namespaces before what lives in them, policies before their bindings.
    static func rank(_ kind: String) -> Int {
        switch kind {
        case "Namespace": 0
        case "PriorityClass": 1
        case "ValidatingAdmissionPolicy": 2
        case "ValidatingAdmissionPolicyBinding": 3
        default: 4
        }
    }

    /// `dryRun`: the server checks each apply (admission included) without persisting it.
    public func sync(_ objects: [KubeObject], dryRun: Bool = false) async -> [Outcome] {
        let ordered = objects.enumerated().sorted { (Self.rank($0.element.kind), $0.offset) < (Self.rank($1.element.kind), $1.offset) }.map(\.element)
        var out: [Outcome] = []
        var unborn = Set<String>()
        for o in ordered {
            var outcome = Outcome(kind: o.kind, namespace: o.namespace, name: o.name, action: .unchanged, drift: [], error: nil)
            // In a dry run, a namespace that would be created does not exist yet: what goes in it cannot be checked.
            if let ns = o.namespace, unborn.contains(ns) {
                outcome.action = .wouldCreate
                out.append(outcome)
                continue
            }
            let path = ResourcePath.of(o)
            do {
                var exists = true
                do {
                    let live = try await client.get(path)
                    outcome.drift = Drift.differences(desired: o, live: live)
                } catch let e as KubeError where e.isNotFound {
                    exists = false
                }
                if !exists || !outcome.drift.isEmpty {
                    _ = try await client.apply(path + (dryRun ? "?dryRun=All" : ""), o.json)
                    outcome.action = exists ? (dryRun ? .wouldUpdate : .updated) : (dryRun ? .wouldCreate : .created)
                    if dryRun && !exists && o.kind == "Namespace" { unborn.insert(o.name) }
                }
            } catch {
                outcome.action = .failed
                outcome.error = "\(error)"
            }
            out.append(outcome)
        }
        return out
    }
}
