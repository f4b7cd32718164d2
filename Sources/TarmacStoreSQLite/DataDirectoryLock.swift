import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One control plane per data directory: `tarmac up` holds an exclusive lock on `DATA/tarmac.lock` for its whole life
/// and writes who it is there (pid, ports, since when), so that a second one is refused before it touches anything and
/// is told who holds it. The kernel drops the lock when the process dies, however it dies: there is no stale lock.
public final class DataDirectoryLock: Sendable {
    /// Who holds a data directory.
    public struct Holder: Codable, Sendable, Hashable {
        public var pid: Int32
        public var port: Int
        public var host: String
        public var gatewayPort: Int?
        public var since: Date

        public init(pid: Int32, port: Int, host: String, gatewayPort: Int?, since: Date) {
            self.pid = pid
            self.port = port
            self.host = host
            self.gatewayPort = gatewayPort
            self.since = since
        }

        public var description: String {
            "pid \(pid), serving \(host):\(port)\(gatewayPort.map { " (gateway :\($0))" } ?? ""), since \(ISO8601DateFormatter().string(from: since))"
        }
    }

    public struct Held: Error, CustomStringConvertible, Sendable {
        public var directory: String
        /// Who holds it (nil: a holder that has not written itself down yet, or an unreadable file).
        public var holder: Holder?
        public var description: String {
            "another tarmac up holds the data directory \(directory)" + (holder.map { " (\($0.description))" } ?? "")
        }
    }

    let fd: Int32
    public let path: String

    /// Takes the lock (without waiting) and writes `holder` into the file.
    public init(directory: String, holder: Holder) throws {
        path = directory + "/tarmac.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            let data = Self.readAll(fd)
            close(fd)
            guard e == EWOULDBLOCK else { throw POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO) }
            let dec = JSONDecoder()
            dec.dateDecodingStrategy = .iso8601
            throw Held(directory: directory, holder: try? dec.decode(Holder.self, from: data))
        }
        self.fd = fd
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        let bytes = Array((try enc.encode(holder)) + Data("\n".utf8))
        guard ftruncate(fd, 0) == 0, pwrite(fd, bytes, bytes.count, 0) == bytes.count else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        fsync(fd)
    }

    deinit { close(fd) }

    static func readAll(_ fd: Int32) -> Data {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while true {
            let n = pread(fd, &buf, buf.count, offset)
            guard n > 0 else { break }
            out.append(contentsOf: buf[0..<n])
            offset += off_t(n)
        }
        return out
    }
}
