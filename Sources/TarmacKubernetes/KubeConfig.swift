import Foundation
import TarmacModel
import Yams

/// How to reach one API server: its URL, how to trust it, and who we are to it. Never printed with its secrets
/// (`description` redacts them).
public struct ClusterAccess: Sendable, CustomStringConvertible {
    public var server: String
    public var caPEM: Data?
    public var insecureSkipTLSVerify: Bool
    public var clientCertificatePEM: Data?
    public var clientKeyPEM: Data?
    public var token: String?
    public var namespace: String?
    /// Where it came from (kubeconfig path and context, or "in-cluster").
    public var source: String

    public init(server: String, caPEM: Data? = nil, insecureSkipTLSVerify: Bool = false, clientCertificatePEM: Data? = nil,
                clientKeyPEM: Data? = nil, token: String? = nil, namespace: String? = nil, source: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.caPEM = caPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.token = token
        self.namespace = namespace
        self.source = source
    }

    public var description: String {
        var auth: [String] = []
        if token != nil { auth.append("bearer token") }
        if clientCertificatePEM != nil { auth.append("client certificate") }
        return "\(server) (\(source); \(auth.isEmpty ? "anonymous" : auth.joined(separator: " and "))\(caPEM != nil ? ", custom CA" : ""))"
    }
}

public struct KubeConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// Reads kubeconfig files (the current or a named context; certificates, keys and CAs as data or files; bearer tokens
/// and token files) and the in-cluster service-account configuration.
public enum KubeConfig {
    public static func load(path: String, context name: String? = nil) throws -> ClusterAccess {
        guard let data = FileManager.default.contents(atPath: path) else { throw KubeConfigError("cannot read kubeconfig \(path)") }
        return try parse(data, path: path, context: name)
    }

    /// A kubeconfig's text; `path` names it in messages, and relative files it names are read beside it.
    public static func parse(_ data: Data, path: String, context name: String? = nil) throws -> ClusterAccess {
        let root: [String: Any]
        do {
            root = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) as? [String: Any] ?? [:]
        } catch {
            throw KubeConfigError("\(path) is not valid YAML: \(error)")
        }
        let base = (path as NSString).deletingLastPathComponent
        func named(_ key: String, _ inner: String) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for item in root[key] as? [[String: Any]] ?? [] {
                if let n = item["name"] as? String, let v = item[inner] as? [String: Any] { out[n] = v }
            }
            return out
        }
        let contexts = named("contexts", "context"), clusters = named("clusters", "cluster"), users = named("users", "user")
        guard let contextName = name ?? (root["current-context"] as? String).flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw KubeConfigError("\(path) has no current-context; name one with --context (contexts: \(contexts.keys.sorted().joined(separator: ", ")))")
        }
        guard let context = contexts[contextName] else {
            throw KubeConfigError("\(path) has no context '\(contextName)'\(Suggestions.closest(to: contextName, in: contexts.keys).map { "; did you mean '\($0)'?" } ?? "") (contexts: \(contexts.keys.sorted().joined(separator: ", ")))")
        }
        guard let clusterName = context["cluster"] as? String, let cluster = clusters[clusterName] else {
            throw KubeConfigError("context '\(contextName)' names cluster '\(context["cluster"] ?? "")', which \(path) does not define")
        }
        guard let server = cluster["server"] as? String, server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw KubeConfigError("cluster '\(clusterName)' has no https:// server address")
        }
        let user = (context["user"] as? String).flatMap { users[$0] } ?? [:]
        if context["user"] != nil, users[context["user"] as? String ?? ""] == nil {
            throw KubeConfigError("context '\(contextName)' names user '\(context["user"] ?? "")', which \(path) does not define")
        }
        func material(_ dict: [String: Any], data: String, file: String) throws -> Data? {
            if let b64 = dict[data] as? String {
                guard let d = Data(base64Encoded: b64.filter { !$0.isWhitespace }) else { throw KubeConfigError("\(data) in \(path) is not base64") }
                return d
            }
            if let f = dict[file] as? String {
                let full = f.hasPrefix("/") ? f : base + "/" + f
                guard let d = FileManager.default.contents(atPath: full) else { throw KubeConfigError("cannot read \(file) \(full) named in \(path)") }
                return d
            }
            return nil
        }
        var token = user["token"] as? String
        if token == nil, let f = user["tokenFile"] as? String {
            let full = f.hasPrefix("/") ? f : base + "/" + f
            guard let t = try? String(contentsOfFile: full, encoding: .utf8) else { throw KubeConfigError("cannot read tokenFile \(full)") }
            token = t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if user["exec"] != nil || user["auth-provider"] != nil, token == nil, user["client-certificate-data"] == nil, user["client-certificate"] == nil {
            throw KubeConfigError("user of context '\(contextName)' authenticates with an exec plugin or auth provider, which Tarmac does not run; use a token or a client certificate")
        }
        return ClusterAccess(server: server, caPEM: try material(cluster, data: "certificate-authority-data", file: "certificate-authority"),
                             insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
                             clientCertificatePEM: try material(user, data: "client-certificate-data", file: "client-certificate"),
                             clientKeyPEM: try material(user, data: "client-key-data", file: "client-key"),
                             token: token, namespace: context["namespace"] as? String, source: "\(path), context \(contextName)")
    }

    /// The service account of the pod we run in.
    public static func inCluster(root: String = "/var/run/secrets/kubernetes.io/serviceaccount",
                                 environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClusterAccess {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw KubeConfigError("not running in a cluster (KUBERNETES_SERVICE_HOST is not set); pass --kubeconfig")
        }
        guard let token = try? String(contentsOfFile: root + "/token", encoding: .utf8) else {
            throw KubeConfigError("cannot read the service-account token at \(root)/token")
        }
        let h = host.contains(":") ? "[\(host)]" : host
        return ClusterAccess(server: "https://\(h):\(port)", caPEM: FileManager.default.contents(atPath: root + "/ca.crt"),
                             token: token.trimmingCharacters(in: .whitespacesAndNewlines),
                             namespace: (try? String(contentsOfFile: root + "/namespace", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines),
                             source: "in-cluster")
    }
}
