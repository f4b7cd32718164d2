import Foundation
import TarmacCore
import TarmacStoreSQLite
import TarmacTesting
import Testing

@Suite struct SQLiteStoreConformanceTests {
    /// Each case on its own database file; opening it again is a restart.
    @Test(arguments: StoreConformance.cases)
    func sqliteStore(_ c: ConformanceCase) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/tarmac.db"
        try await c.run(StoreUnderTest("sqlite") { try SQLiteStore(path: path) })
    }
}
