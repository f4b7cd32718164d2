import Foundation
import Synchronization
import TarmacTesting
import Testing
@testable import TarmacLocal

@Suite struct FileGrowthTests {
    /// A follower waiting on a log wakes when the log is written, not when its timeout passes: the timeout here is ten
    /// minutes, and the test waits for the wake-up (with its own, shorter, limit).
    @Test(arguments: [true, false])
    func aWaiterWakesWhenTheFileGrows(fileExistsFirst: Bool) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/0.log"
        if fileExistsFirst { try Data("first\n".utf8).write(to: URL(fileURLWithPath: path)) }
        let offset = FileGrowth.size(path) < 0 ? 0 : FileGrowth.size(path)
        let woke = Mutex(false), watching = Mutex(false)
        let waiter = Task {
            await FileGrowth.wait(path, beyond: offset, timeout: .seconds(600)) { watching.withLock { $0 = true } }
            woke.withLock { $0 = true }
        }
        // Written only once the kernel watches the file: then only the write can wake it within the test's limit.
        try await eventually("the waiter watches the file") { watching.withLock { $0 } }
        #expect(!woke.withLock { $0 })
        let h: FileHandle
        if fileExistsFirst { h = try FileHandle(forWritingTo: URL(fileURLWithPath: path)); try h.seekToEnd() } else {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        }
        try h.write(contentsOf: Data("more\n".utf8))
        try h.close()
        try await eventually("the waiter woke at the write", timeout: .seconds(30)) { woke.withLock { $0 } }
        await waiter.value
        #expect(FileGrowth.size(path) > offset)
    }

    /// A file already past the offset: no wait at all.
    @Test func aFileAlreadyLongerReturnsAtOnce() async throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("0.log", "already here\n")
        await FileGrowth.wait(path, beyond: 3, timeout: .seconds(600))
        #expect(FileGrowth.size(path) == 13)
    }
}
