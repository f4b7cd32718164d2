import Foundation
import TarmacEngine

/// Alibaba's 2023 GPU cluster trace ("openb", the FGD paper's data): node lists
/// `sn,cpu_milli,memory_mib,gpu,model` and pod lists
/// `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`.
public enum AlibabaTrace {
    public struct Node: Sendable, Equatable {
        public var name: String
        public var cpuMilli: Int32
        public var memoryMiB: Int32
        public var gpus: Int
        public var model: String?
    }

    public struct Pod: Sendable, Equatable {
        public var name: String
        public var cpuMilli: Int32
        public var memoryMiB: Int32
        public var gpuCount: Int
        /// Share of one GPU when gpuCount is 1, else 1000.
        public var gpuMilli: Int
        /// Allowed GPU models; empty means any.
        public var gpuSpec: [String]
        public var creation: Int
        public var deletion: Int?
    }

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static let nodeColumns = ["sn", "cpu_milli", "memory_mib", "gpu", "model"]
    public static let podColumns = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
                                    "creation_time", "deletion_time", "scheduled_time"]

    /// The trace directory: `csv/` inside it, or the directory itself.
    public static func csvDirectory(_ dir: String) -> String {
        FileManager.default.fileExists(atPath: dir + "/csv/openb_node_list_gpu_node.csv") ? dir + "/csv" : dir
    }

    /// The 17 pod lists of the published experiments, in a stable order (default first).
    public static func podLists(in dir: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: csvDirectory(dir))) ?? []
        let names = files.filter { $0.hasPrefix("openb_pod_list_") && $0.hasSuffix(".csv") }
            .map { String($0.dropFirst("openb_pod_list_".count).dropLast(4)) }
        return names.sorted { a, b in a == "default" ? b != "default" : (b == "default" ? false : a < b) }
    }

    /// Rows of a CSV file whose header is `columns`, or its first `minimum` columns (the multigpu lists carry only five).
    static func rows(_ path: String, columns: [String], minimum: Int? = nil) throws -> (width: Int, rows: [(line: Int, fields: [Substring])]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(file: path, line: 0, message: "cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { throw LoadError(file: path, line: 1, message: "empty file") }
        let got = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard got == columns || (minimum.map { got.count >= $0 && got.count <= columns.count && Array(columns.prefix(got.count)) == got } ?? false) else {
            throw LoadError(file: path, line: 1, message: "expected columns \(columns.joined(separator: ",")), got \(got.joined(separator: ","))")
        }
        return (got.count, lines.dropFirst().enumerated().compactMap { i, l in
            let trimmed = l.hasSuffix("\r") ? l.dropLast() : l
            return trimmed.isEmpty ? nil : (i + 2, trimmed.split(separator: ",", omittingEmptySubsequences: false))
        })
    }

    static func int(_ f: [Substring], _ i: Int, _ name: String, _ file: String, _ line: Int, allowEmpty: Bool = false) throws -> Int? {
        guard i < f.count else { throw LoadError(file: file, line: line, message: "missing column \(name)") }
        if f[i].isEmpty && allowEmpty { return nil }
        guard let v = Int(f[i]), v >= 0 else { throw LoadError(file: file, line: line, message: "\(name) must be a non-negative integer, got '\(f[i])'") }
        return v
    }

    public static func loadNodes(_ path: String) throws -> [Node] {
        try rows(path, columns: nodeColumns).rows.map { line, f in
            guard f.count == nodeColumns.count else { throw LoadError(file: path, line: line, message: "expected \(nodeColumns.count) columns, got \(f.count)") }
            let gpus = try int(f, 3, "gpu", path, line)!
            guard gpus <= ClusterState.maxGPUsPerNode else { throw LoadError(file: path, line: line, message: "at most 8 GPUs per node, got \(gpus)") }
            return Node(name: String(f[0]), cpuMilli: Int32(try int(f, 1, "cpu_milli", path, line)!), memoryMiB: Int32(try int(f, 2, "memory_mib", path, line)!),
                        gpus: gpus, model: f[4].isEmpty ? nil : String(f[4]))
        }
    }

    public static func loadPods(_ path: String) throws -> [Pod] {
        let (width, rows) = try rows(path, columns: podColumns, minimum: 5)
        return try rows.map { line, f in
            guard f.count == width else { throw LoadError(file: path, line: line, message: "expected \(width) columns, got \(f.count)") }
            func field(_ i: Int) -> Substring { i < f.count ? f[i] : "" }
            let count = try int(f, 3, "num_gpu", path, line)!
            let milli = try int(f, 4, "gpu_milli", path, line)!
            guard milli <= 1000, count <= ClusterState.maxGPUsPerNode, count <= 1 || milli == 1000 || milli == 0 else {
                throw LoadError(file: path, line: line, message: "num_gpu \(count) with gpu_milli \(milli) is not a valid request")
            }
            return Pod(name: String(f[0]), cpuMilli: Int32(try int(f, 1, "cpu_milli", path, line)!), memoryMiB: Int32(try int(f, 2, "memory_mib", path, line)!),
                       gpuCount: count, gpuMilli: count == 0 ? 0 : (milli == 0 ? 1000 : milli),
                       gpuSpec: field(5).split(separator: "|").map(String.init).filter { !$0.isEmpty },
                       creation: width > 8 ? try int(f, 8, "creation_time", path, line, allowEmpty: true) ?? 0 : 0,
                       deletion: width > 9 ? try int(f, 9, "deletion_time", path, line, allowEmpty: true) : nil)
        }
    }

    /// A cluster of the nodes that have GPUs (the published experiments' cluster) or of all nodes.
    public static func cluster(_ nodes: [Node], gpuOnly: Bool = true) -> ClusterState {
        var c = ClusterState()
        for n in nodes where !gpuOnly || n.gpus > 0 {
            c.addNode(name: n.name, cpuMilli: n.cpuMilli, memoryMiB: n.memoryMiB, gpus: n.gpus, model: n.model)
        }
        return c
    }

    /// A pod's shape in a cluster (GPU model names resolved to the cluster's ids; unknown models allow nothing of theirs).
    public static func shape(_ p: Pod, in c: inout ClusterState) -> PodShape {
        let models: ModelSet = p.gpuSpec.isEmpty ? .any : .only(p.gpuSpec.map { c.modelID($0) })
        return PodShape(cpuMilli: p.cpuMilli, memoryMiB: p.memoryMiB, gpuCount: p.gpuCount, gpuMilli: p.gpuMilli, models: models)
    }
}
