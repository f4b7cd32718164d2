#if canImport(Glibc)
import Glibc
#endif
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

    /// Where the reader's process id is kept (the data directory): a reader left by a control plane that was killed
    /// (`kill -9` leaves its children) is stopped by the next one.
    let pidFile: String?

    public init(executable: String = "nvidia-smi", everyMs: Int = 1000, node: String, restartAfter: Duration = .seconds(5), pidFile: String? = nil, logger: Logger) {
        self.pidFile = pidFile
        self.executable = executable
        self.everyMs = everyMs
        self.node = node
        self.restartAfter = restartAfter
        self.logger = logger
    }

    public func latest() async -> [GPUSample] { readings.withLock { $0.values.sorted { $0.gpu < $1.gpu } } }

    /// Reads until the task is cancelled.
    public func run() async {
        stopLeftOver()
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
        // The reading end stays in this process only: pods started later must not inherit it, or a reader that outlived
        // a killed control plane would keep nvidia-smi writing into a pipe nobody reads (it exits on the broken pipe).
        _ = fcntl(out.fileHandleForReading.fileDescriptor, F_SETFD, FD_CLOEXEC)
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
        if let pidFile { try? "\(p.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8) }
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

extension NvidiaSMIReader {
    /// Stops the reader an earlier control plane left running (its pid file names it, and it is still an nvidia-smi
    /// reading GPUs: a pid reused by something else is left alone).
    func stopLeftOver() {
        guard let pidFile, let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 1, let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
              cmdline.contains("nvidia-smi"), cmdline.contains("--query-gpu") else { return }
        kill(pid, SIGTERM)
        logger.info("stopped the GPU reader an earlier control plane left running", metadata: ["pid": "\(pid)"])
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
