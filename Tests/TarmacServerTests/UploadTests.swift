import Crypto
import Foundation
import TarmacTesting
import TarmacWorkdir
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ServerTests {
/// Oversized, stalled and hostile uploads over real HTTP on loopback, sent as a script or proxy would (not through the
/// CLI, which checks the size first): answered at once with the route's limit, the connection closed, nothing stored,
/// and the server answering meanwhile.
@Suite struct UploadTests {
    /// A raw HTTP/1.1 connection: what a client that does not wait for the server sends.
    final class Connection {
        let fd: Int32
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { throw TestFailure("connect: \(errno)") }
            var tv = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit { close(fd) }

        /// Sends all of `bytes`; false when the server closed its side or reset (it answered and stopped reading).
        @discardableResult
        func send(_ bytes: [UInt8]) -> Bool {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                sent += n
            }
            return true
        }

        /// Whether an answer is waiting to be read now.
        var answerWaiting: Bool {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) > 0
        }

        /// Everything until the server closes (or the timeout), as text.
        func readAll() -> String {
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                out += buf[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    static func head(_ method: String, _ path: String, token: String, length: Int?) -> [UInt8] {
        Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\(length.map { "Content-Length: \($0)\r\n" } ?? "Transfer-Encoding: chunked\r\n")\r\n".utf8)
    }

    static func digest(_ data: Data) -> String { "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    @Test func anOversizedBodyIsAnsweredAtOnceWithTheRoutesLimitAndTheConnectionCloses() async throws {
        let server = try TestServer(arguments: ["--upload-idle-timeout", "2"])
        try await server.start()
        let token = try server.adminToken
        let path = "/v1/workdirs/sha256:" + String(repeating: "0", count: 64)

        // 100 MiB declared: the answer comes after the first MiB, without the rest being sent.
        let plain = try Connection(port: server.port)
        plain.send(Self.head("PUT", path, token: token, length: 100 << 20) + [UInt8](repeating: 0, count: 1 << 20))
        let answer = plain.readAll()
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
        #expect(answer.contains("Connection: close") && answer.contains("the body is 100 MiB (Content-Length); a working directory's archive may be at most 65 MiB"), "\(answer)")

        // Chunked, no length: answered once the bytes pass the limit, long before 100 MiB.
        let chunked = try Connection(port: server.port)
        chunked.send(Self.head("PUT", path, token: token, length: nil))
        var sent = 0
        let chunk = Array("100000\r\n".utf8) + [UInt8](repeating: 7, count: 1 << 20) + Array("\r\n".utf8)
        while sent < 100 << 20, !chunked.answerWaiting {
            guard chunked.send(chunk) else { break }
            sent += 1 << 20
        }
        let chunkedAnswer = chunked.readAll()
        #expect(chunkedAnswer.hasPrefix("HTTP/1.1 413") && chunkedAnswer.contains("larger than the limit: a working directory's archive may be at most 65 MiB"), "\(chunkedAnswer)")
        #expect(sent < 90 << 20, "\(sent >> 20) MiB were sent before the answer")

        // Any other route: its own limit.
        let other = try Connection(port: server.port)
        other.send(Self.head("POST", "/v1/workloads", token: token, length: 2 << 20) + [UInt8](repeating: 0x20, count: 4096))
        let otherAnswer = other.readAll()
        #expect(otherAnswer.hasPrefix("HTTP/1.1 413") && otherAnswer.contains("the body is 2 MiB (Content-Length); a request body to /v1/workloads may be at most 1 MiB"), "\(otherAnswer)")

        // A 200,000-entry archive (about 100 MB): its declared size says it all.
        let many = try TarArchive.write((0..<200_000).map { TarArchive.Entry(path: "f\($0)", isDirectory: false) })
        #expect(many.count > 100_000_000)
        let big = try Connection(port: server.port)
        big.send(Self.head("PUT", "/v1/workdirs/" + Self.digest(many), token: token, length: many.count) + Array(many.prefix(1 << 20)))
        #expect(big.readAll().hasPrefix("HTTP/1.1 413"))

        // A body that stalls half-way: cut off after the idle timeout (2 s here), and the server answers meanwhile.
        let stalled = try Connection(port: server.port)
        stalled.send(Self.head("PUT", path, token: token, length: 10 << 20) + [UInt8](repeating: 0, count: 1 << 20))
        #expect(try await server.http(.GET, "/readyz", token: nil).0 == 200, "the server answers while an upload stalls")
        let stalledAnswer = stalled.readAll()
        #expect(stalledAnswer.hasPrefix("HTTP/1.1 408") && stalledAnswer.contains("the upload stalled: no byte of its body came for 2 s"), "\(stalledAnswer)")
        #expect(try await server.http(.GET, "/readyz", token: nil).0 == 200)
        // Nothing was stored.
        let stored = (try? FileManager.default.contentsOfDirectory(atPath: server.data + "/workdirs")) ?? []
        #expect(stored.filter { !$0.hasPrefix(".") }.isEmpty, "\(stored)")
    }

    @Test func anArchiveWhoseEntriesContradictEachOtherIsRefusedAndNothingIsStored() async throws {
        let server = try TestServer()
        try await server.start()
        let token = try server.adminToken
        let before = (try? FileManager.default.contentsOfDirectory(atPath: server.data + "/workdirs")) ?? []
        let cases: [([TarArchive.Entry], String)] = [
            ([.init(path: "a", isDirectory: false), .init(path: "a/b", isDirectory: false)], "a/b: a is a file in the archive, so nothing can be inside it"),
            ([.init(path: "a/b", isDirectory: false), .init(path: "a", isDirectory: false)], "a is both a directory and a file in the archive"),
            ([.init(path: "x", isDirectory: false), .init(path: "x", isDirectory: false)], "x appears twice in the archive"),
            ([.init(path: "d", isDirectory: true), .init(path: "d", isDirectory: false)], "d is both a directory and a file in the archive"),
            ([.init(path: "./train.py", isDirectory: false)], "./train.py: names with a '.' part are refused (write train.py)"),
            ([.init(path: "a/./b", isDirectory: false)], "a/./b: names with a '.' part are refused (write a/b)"),
            ([.init(path: "", isDirectory: false)], "has an empty name"),
        ]
        for (entries, message) in cases {
            // Written as the entries come (TarArchive.write sorts them; a hostile client would not).
            var archive = Data()
            for e in entries { archive += try TarArchive.write([e]).dropLast(1024) }
            archive += Data(count: 1024)
            let (status, body) = try await server.http(.PUT, "/v1/workdirs/" + Self.digest(archive), token: token, body: String(decoding: archive, as: UTF8.self))
            let text = String(decoding: body, as: UTF8.self)
            #expect(status == 422 && text.contains(message), "\(entries.map(\.path)): \(status) \(text)")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: server.data + "/workdirs")) ?? []) == before)
    }

    /// The served OpenAPI document is valid OpenAPI 3.1 for a standard validator (openapi-spec-validator, from PyPI).
    static let validator: Bool = (try? Run.program(Run.which("python3") ?? "/usr/bin/python3", ["-c", "import openapi_spec_validator"]))?.status == 0

    @Test(.enabled(if: validator, "needs openapi-spec-validator (pip install openapi-spec-validator==0.9.0; .ci/run installs it)"))
    func theServedOpenAPIDocumentIsValid() async throws {
        let server = try TestServer()
        try await server.start()
        let (status, yaml) = try await server.http(.GET, "/openapi.yaml", token: nil)
        #expect(status == 200)
        let file = try server.dir.write("openapi.yaml", String(decoding: yaml, as: UTF8.self))
        let r = try Run.program(Run.which("python3") ?? "/usr/bin/python3", ["-c", """
            import sys
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
            spec, _ = read_from_filename(sys.argv[1])
            validate(spec)
            print("valid", spec["openapi"])
            """, file])
        #expect(r.status == 0 && r.stdout.hasPrefix("valid 3.1"), "\(r.stdout)\(r.stderr.suffix(2000))")
    }
}
}
