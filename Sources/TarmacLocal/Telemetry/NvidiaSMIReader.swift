import Foundation
import Logging
import Synchronization
import TarmacMetering

/// The local GPU telemetry: one long-running `nvidia-smi --query-gpu=... -lms N` (NVML's own sampling, not a process
/// per sample), its lines read as they come; the latest reading of each GPU is kept. The process is started again
/// (after `restartAfter`) when it exits; with no `nvidia-smi` there are no readings.
public final class NvidiaSMIReader: TelemetrySource, Sendable {
    let executable: String
    let everyMs: Int
    let node: String
    let restartAfter: Duration
    let logger: Logger
    private let readings = Mutex<[Int: GPUSample]>([:])
    private let running = Mutex<Process?>(nil)

    public init(executable: String = "nvidia-smi", everyMs: Int = 1000, node: String, restartAfter: Duration = .seconds(5), logger: Logger) {
        self.executable = executable
        self.everyMs = everyMs
        self.node = node
        self.restartAfter = restartAfter
        self.logger = logger
    }

    public func latest() async -> [GPUSample] { readings.withLock { $0.values.sorted { $0.gpu < $1.gpu } } }

    /// Reads until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            await readOnce()
            try? await Task.sleep(for: restartAfter)
        }
    }

    /// Runs the reader once, until it exits (or the task is cancelled: then it is stopped).
    func readOnce() async {
        let p = Process()
        if executable.contains("/") {
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = NvidiaSMI.arguments(everyMs: everyMs)
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [executable] + NvidiaSMI.arguments(everyMs: everyMs)
        }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        let pending = LineBuffer()
        out.fileHandleForReading.readabilityHandler = { [self] h in
            let data = h.availableData
            guard !data.isEmpty else { h.readabilityHandler = nil; return }
            for l in pending.lines(adding: data) {
                if let s = NvidiaSMI.parse(l, node: node) { readings.withLock { $0[s.gpu] = s } }
            }
        }
        do {
            try p.run()
        } catch {
            logger.debug("no GPU telemetry: nvidia-smi could not be started", metadata: ["error": "\(error)"])
            return
        }
        running.withLock { $0 = p }
        await withTaskCancellationHandler {
            while p.isRunning, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(200)) }
        } onCancel: {
            if p.isRunning { p.terminate() }
        }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        running.withLock { $0 = nil }
        logger.info("nvidia-smi stopped; it is started again", metadata: ["status": "\(p.terminationStatus)"])
    }
}

/// Bytes as they come, cut into whole lines.
final class LineBuffer: Sendable {
    private let buffer = Mutex("")
    func lines(adding data: Data) -> [String] {
        buffer.withLock { buf in
            buf += String(decoding: data, as: UTF8.self)
            guard let last = buf.lastIndex(of: "\n") else { return [] }
            let complete = buf[..<last]
            buf = String(buf[buf.index(after: last)...])
            return complete.split(separator: "\n").map(String.init)
        }
    }
}
