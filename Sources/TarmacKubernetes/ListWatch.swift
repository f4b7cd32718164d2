import AsyncHTTPClient
import Foundation
import NIOCore

/// A decoded JSON object from the API server (immutable once decoded).
public struct JSONObject: @unchecked Sendable {
    public let value: [String: Any]
    public init(_ value: [String: Any]) { self.value = value }
    public var resourceVersion: String? { (value["metadata"] as? [String: Any])?["resourceVersion"] as? String }
    public var name: String? { (value["metadata"] as? [String: Any])?["name"] as? String }
}

public enum WatchEvent: Sendable {
    /// The full state after a (re)list: replace what you had.
    case relisted([JSONObject])
    case added(JSONObject)
    case modified(JSONObject)
    case deleted(JSONObject)
}

/// List, then watch from the list's resourceVersion with bookmarks; a dropped watch resumes from the last
/// resourceVersion seen (event or bookmark); 410 Gone (an expired resourceVersion, as HTTP status or ERROR event) relists.
public struct ListWatch: Sendable {
    public let client: KubeClient
    /// A collection path, e.g. `/api/v1/nodes` or `/apis/batch/v1/namespaces/NS/jobs`.
    public let path: String
    public var timeoutSeconds: Int
    public var labelSelector: String?

    public init(client: KubeClient, path: String, timeoutSeconds: Int = 300, labelSelector: String? = nil) {
        self.client = client
        self.path = path
        self.timeoutSeconds = timeoutSeconds
        self.labelSelector = labelSelector
    }

    /// Runs until cancelled, handing every event to `handle` in order.
    public func run(_ handle: @Sendable (WatchEvent) async throws -> Void) async throws {
        var rv = try await relist(handle)
        var failures = 0
        while !Task.isCancelled {
            do {
                rv = try await watch(from: rv, handle)
                failures = 0
            } catch let e as KubeError where e.isGone {
                rv = try await relist(handle)
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                try await Task.sleep(for: client.retry.delay(retry: failures, retryAfter: nil))
            }
        }
    }

    func relist(_ handle: @Sendable (WatchEvent) async throws -> Void) async throws -> String {
        let (items, rv) = try await client.list(path + (labelSelector.map { "?labelSelector=\(Self.escape($0))" } ?? ""))
        try await handle(.relisted(items.map(JSONObject.init)))
        return rv
    }

    /// One watch request; returns the last resourceVersion when the server ends it (timeout or a dropped connection).
    func watch(from start: String, _ handle: @Sendable (WatchEvent) async throws -> Void) async throws -> String {
        var rv = start
        var q = "watch=1&allowWatchBookmarks=true&resourceVersion=\(Self.escape(rv))&timeoutSeconds=\(timeoutSeconds)"
        if let labelSelector { q += "&labelSelector=\(Self.escape(labelSelector))" }
        let resp = try await client.execute(.GET, path + "?" + q, body: nil, contentType: nil, timeout: .seconds(Int64(timeoutSeconds + 30)))
        let code = Int(resp.status.code)
        guard code == 200 else {
            throw KubeClient.error(code, Data(try await resp.body.collect(upTo: 1 << 20).readableBytesView), path)
        }
        var pending = Data()
        do {
            for try await chunk in resp.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = pending[pending.startIndex..<nl]
                    pending = Data(pending[(nl + 1)...])
                    guard !line.isEmpty, let event = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                          let type = event["type"] as? String, let object = event["object"] as? [String: Any] else { continue }
                    let o = JSONObject(object)
                    switch type {
                    case "BOOKMARK": if let v = o.resourceVersion { rv = v }
                    case "ERROR":
                        let status = object["code"] as? Int ?? 500
                        throw KubeError(code: status, reason: object["reason"] as? String ?? "Error", message: object["message"] as? String ?? "", path: path)
                    case "ADDED", "MODIFIED", "DELETED":
                        if let v = o.resourceVersion { rv = v }
                        try await handle(type == "ADDED" ? .added(o) : type == "MODIFIED" ? .modified(o) : .deleted(o))
                    default: continue
                    }
                }
            }
        } catch let e as KubeError {
            throw e
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The connection dropped mid-stream: what was complete counts, the rest is read again from `rv`.
        }
        return rv
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
}
