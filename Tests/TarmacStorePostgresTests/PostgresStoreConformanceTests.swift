import Foundation
import TarmacCore
import TarmacStorePostgres
import TarmacTesting
import Testing

/// The store conformance suite on a real PostgreSQL server (Tests/Support/postgres-rig, or TARMAC_TEST_POSTGRES).
@Suite(.enabled(if: PostgresRig.available, Comment(rawValue: PostgresRig.failure ?? PostgresRig.skipMessage)))
struct PostgresStoreConformanceTests {
    /// Each case on a database of its own; opening it again is a restart (a new pool of connections to the same data).
    @Test(arguments: StoreConformance.cases)
    func postgresStore(_ c: ConformanceCase) async throws {
        let url = try PostgresRig.database()
        let opened = Opened()
        try await c.run(StoreUnderTest("postgres") {
            let store = try await PostgresStore.open(try PostgresLocation(url: url), connections: 8)
            opened.add(store)
            return store
        })
        opened.closeAll()
    }
}

/// The stores a case opened, closed at its end.
final class Opened: @unchecked Sendable {
    private let lock = NSLock()
    private var stores: [PostgresStore] = []
    func add(_ s: PostgresStore) { lock.withLock { stores.append(s) } }
    func closeAll() { lock.withLock { stores.forEach { $0.close() }; stores = [] } }
}
