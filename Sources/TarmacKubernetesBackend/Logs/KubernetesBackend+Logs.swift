import Foundation
import TarmacCore
import TarmacKubernetes
import TarmacManifests

/// Pods' logs: read from the API server while the pod exists, copied to disk before it goes (`logDirectory`), so
/// `tarmac logs` keeps working after the end.
extension KubernetesBackend {
    public func readLog(workload: String, attempt: Int, pod: Int, from offset: Int64, max: Int) async throws -> LogChunk {
        let file = logFile(workload, attempt, pod)
        if let pod = self.pod(workload, attempt, pod), let o = workloads[workload]?.objects {
            let path = "/api/v1/namespaces/\(o.namespace)/pods/\(AttemptStatus.name(pod))/log?container=\(o.containerName)&limitBytes=\(offset + Int64(max))"
            do {
                let data = try await client.raw(path)
                return LogChunk(data: data.count > offset ? data.subdata(in: Int(offset)..<data.count) : Data(), nextOffset: Swift.max(offset, Int64(data.count)))
            } catch let e as KubeError where e.code == 400 {
                // The container has not started yet: no log so far.
                return LogChunk(data: Data(), nextOffset: offset)
            } catch let e as KubeError where e.isNotFound {
                // The pod went away meanwhile (the workload ended and its objects are being removed): its log was kept.
            }
        }
        guard let h = FileHandle(forReadingAtPath: file) else { return LogChunk(data: Data(), nextOffset: offset) }
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        let data = try h.read(upToCount: max) ?? Data()
        return LogChunk(data: data, nextOffset: offset + Int64(data.count))
    }

    func logFile(_ workload: String, _ attempt: Int, _ pod: Int) -> String { "\(options.logDirectory)/\(workload)/\(attempt)/\(pod).log" }

    /// The newest pod of a slot of an attempt.
    func pod(_ workload: String, _ attempt: Int, _ slot: Int) -> [String: Any]? {
        guard let o = workloads[workload]?.objects else { return nil }
        let mine = cache[.pods].values.filter {
            AttemptStatus.labels($0)[Naming.workloadIDLabel] == workload && AttemptStatus.labels($0)[Naming.attemptLabel] == String(attempt)
        }.sorted { (AttemptStatus.index($0) ?? 0, AttemptStatus.name($0)) < (AttemptStatus.index($1) ?? 0, AttemptStatus.name($1)) }
        if o.isJob {
            return mine.filter { o.slot(ofIndex: AttemptStatus.index($0) ?? 0) == slot }.max { created($0) < created($1) }
        }
        return slot < mine.count ? mine[slot] : nil
    }

    func created(_ o: [String: Any]) -> String { (o["metadata"] as? [String: Any])?["creationTimestamp"] as? String ?? "" }

    /// Copies the logs of an attempt's pods to disk before they go, so `tarmac logs` keeps working after the end.
    func keepLogs(_ workload: String, attempt: Int) async {
        await Self.copy(logCopies(workload, attempt: attempt), client: client)
    }

    /// Where each pod's log is read from and written to.
    func logCopies(_ workload: String, attempt: Int) -> [(path: String, file: String)] {
        guard let o = workloads[workload]?.objects else { return [] }
        return (0..<o.podCount).compactMap { slot in
            guard let pod = pod(workload, attempt, slot) else { return nil }
            return ("/api/v1/namespaces/\(o.namespace)/pods/\(AttemptStatus.name(pod))/log?container=\(o.containerName)&limitBytes=\(16 << 20)",
                    logFile(workload, attempt, slot))
        }
    }

    /// Each log is tried once, for at most `logCopyTimeout`: a kubelet that cannot serve it costs that, not retries.
    static func copy(_ logs: [(path: String, file: String)], client: KubeClient) async {
        for (path, file) in logs {
            guard let data = try? await client.rawOnce(path, timeout: logCopyTimeout) else { continue }
            try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: file, contents: data)
        }
    }

    static let logCopyTimeout: Duration = .seconds(5)

    /// Waits until the background work of ended workloads is done (tests, shutdown).
    public func settle() async { await endings.drain() }
}
