import Foundation

/// Paths to the repository's examples and test fixtures, found from this source file.
public enum Fixtures {
    /// The repository root.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The `tarmac` executable of the build that runs the tests (the test bundle sits next to the build's products),
    /// else $TARMAC_BIN, else .build/debug/tarmac.
    public static let tarmacBinary: String = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("tarmac").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return ProcessInfo.processInfo.environment["TARMAC_BIN"] ?? path(".build/debug/tarmac")
    }()

    public static var examplePlatform: String { path("examples/platform/platform.yaml") }
    public static var exampleWorkloads: String { path("examples/workloads") }
    public static var invalidDir: String { path("Tests/Fixtures/invalid") }
    public static var goldenDir: String { path("Tests/Fixtures/golden") }

    /// Every file under a directory with one of the extensions, sorted.
    public static func files(in dir: String, extensions: [String] = ["yaml", "yml", "json"]) -> [String] {
        let items = FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []
        return items.filter { f in extensions.contains { f.hasSuffix("." + $0) } }.sorted().map { dir + "/" + $0 }
    }

    /// The exact diagnostic headlines a fixture must produce, one per line of its sidecar file
    /// (`FILE.expect`, or `expect.txt` in a multi-file case), with paths relative to the fixture's directory.
    public static func expectations(at path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
}

/// A temporary directory that removes itself.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(prefix: String = "tarmac-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    @discardableResult
    public func write(_ relative: String, _ contents: String) throws -> String {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Runs a program and captures what it prints.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Run {
    public static func program(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, b in b } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes fully before waiting, so a large output cannot fill a pipe and block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.wait()
        p.waitUntilExit()
        return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Finds a program on PATH.
    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A platform of two clusters, for the several-clusters tests: `east` runs dev and prod and holds dataset `corpus`,
/// `west` runs dev only; one pool `gpu` of 2 nodes × 4 h100 (fake nodes labelled `tarmac.dev/pool: gpu`), and a CPU pool `cpu`.
public enum FleetFixture {
    public static func platform(east: String, west: String, lostTimeout: String = "5s") -> String {
        """
        apiVersion: tarmac.dev/v1alpha1
        kind: Platform
        metadata: {name: fleet}
        spec:
          accelerators:
            h100: {resource: nvidia.com/gpu, product: NVIDIA-H100-80GB-HBM3}
          pools:
            gpu: {accelerator: h100, gpusPerNode: 4, cpuPerNode: 32, memoryPerNode: 256Gi, nodes: 4, nodeSelector: {tarmac.dev/pool: gpu}, classes: [training, batch, inference]}
            cpu: {cpuPerNode: 8, memoryPerNode: 32Gi, nodes: 4, nodeSelector: {tarmac.dev/pool: cpu}, classes: [training, batch, inference, agent]}
          sizes:
            training:
              g4: {accelerator: h100, gpus: 4, cpu: 8, memory: 64Gi, shm: 8Gi}
              g2: {accelerator: h100, gpus: 2, cpu: 4, memory: 32Gi, shm: 8Gi}
            batch:
              small: {cpu: 1, memory: 1Gi}
          priorities: {normal: 100}
          defaults:
            priority: {training: normal, batch: normal, inference: normal, agent: normal}
          teams:
            search:
              members: [alice@acme.example]
              quota: {h100: 32, cpu: 200, memory: 2Ti}
          environments:
            dev: {}
            prod: {}
          datasets:
            corpus: {claim: corpus, clusters: [east]}
          clusterLostTimeout: \(lostTimeout)
          clusters:
            - name: east
              kubeconfig: {path: \(east)}
              environments: [dev, prod]
              region: us-east
            - name: west
              kubeconfig: {path: \(west)}
              environments: [dev]
              region: us-west
        """
    }
}

extension FleetFixture {
    /// A TrainingJob of team `search` for the fleet platform; `outcome` sets `TEST_OUTCOME` (how the rig's node agent
    /// plays its pod).
    public static func training(_ name: String = "t", env: String, size: String = "g4", workers: Int = 1, datasets: [String] = [], outcome: String? = nil) -> String {
        let mounts = datasets.isEmpty ? "" : "\n  datasets:\n" + datasets.map { "    - {name: \($0), mountPath: /data/\($0)}" }.joined(separator: "\n")
        return """
        apiVersion: tarmac.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: \(name), team: search, env: \(env)}
        spec:
          size: \(size)
          image: registry.example/train:1
          command: [python, train.py]
          workers: \(workers)\(outcome.map { "\n  env: {TEST_OUTCOME: \($0)}" } ?? "")\(mounts)
        """
    }
}
