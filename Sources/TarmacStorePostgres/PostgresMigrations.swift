import Foundation
import PostgresNIO

/// The SQLite store's named migrations, in PostgreSQL's words: the same names in the same order, never edited once
/// released. Text that must round-trip byte for byte (audit fields: a NUL in a log line) is `bytea`, as the SQLite store
/// binds it as blobs; text that is sorted is `COLLATE "C"` (byte order, as SQLite sorts), whatever the database's locale.
enum PostgresMigrations {
    struct Migration {
        var name: String
        var statements: [String]
    }

    static let all: [Migration] = [
        Migration(name: "v1-workloads", statements: [
            """
            CREATE TABLE workload (id text COLLATE "C" PRIMARY KEY, "requestID" text UNIQUE, team text NOT NULL, state text NOT NULL,
              "createdAt" timestamptz NOT NULL, "updatedAt" timestamptz NOT NULL, body bytea NOT NULL)
            """,
            "CREATE INDEX workload_team ON workload (team)",
            "CREATE INDEX workload_state ON workload (state)",
            "CREATE INDEX workload_created ON workload (\"createdAt\", id)",
        ]),
        Migration(name: "v1-tokens", statements: [
            """
            CREATE TABLE token (id text COLLATE "C" PRIMARY KEY, hash text NOT NULL UNIQUE, "createdAt" timestamptz NOT NULL,
              revoked boolean NOT NULL DEFAULT false, body bytea NOT NULL)
            """,
        ]),
        Migration(name: "v1-audit", statements: [
            """
            CREATE TABLE audit (seq bigint PRIMARY KEY, "timeMillis" bigint NOT NULL, "actorKind" bytea NOT NULL, "actorID" bytea NOT NULL,
              action bytea NOT NULL, object bytea NOT NULL, before bytea NOT NULL, after bytea NOT NULL, detail bytea NOT NULL,
              "previousHash" text NOT NULL, hash text NOT NULL)
            """,
            "CREATE INDEX audit_time ON audit (\"timeMillis\")",
        ]),
        Migration(name: "v2-workload-plans", statements: ["ALTER TABLE workload ADD COLUMN plan bytea"]),
        Migration(name: "v2-transitions", statements: [
            "CREATE TABLE transition (seq bigint PRIMARY KEY, workload text NOT NULL, event text NOT NULL, body bytea NOT NULL)",
            "CREATE INDEX transition_workload ON transition (workload)",
        ]),
        Migration(name: "v3-identity", statements: [
            "CREATE TABLE signing_key (kid text COLLATE \"C\" PRIMARY KEY, \"createdAt\" timestamptz NOT NULL, body bytea NOT NULL)",
            "CREATE TABLE \"grant\" (id text COLLATE \"C\" PRIMARY KEY, workload text NOT NULL, body bytea NOT NULL)",
            "CREATE INDEX grant_workload ON \"grant\" (workload)",
            "CREATE TABLE redemption (key text PRIMARY KEY, at timestamptz NOT NULL)",
        ]),
        Migration(name: "v4-audit-query-columns", statements: [
            "ALTER TABLE audit ADD COLUMN tool bytea, ADD COLUMN workload bytea",
            "CREATE INDEX audit_actor ON audit (\"actorID\")",
            "CREATE INDEX audit_workload ON audit (workload) WHERE workload IS NOT NULL",
            "CREATE INDEX audit_tool ON audit (tool) WHERE tool IS NOT NULL",
        ]),
        Migration(name: "v5-model-registry", statements: [
            """
            CREATE TABLE model_version (team text COLLATE "C" NOT NULL, model text COLLATE "C" NOT NULL, version text COLLATE "C" NOT NULL,
              body bytea NOT NULL, PRIMARY KEY (team, model, version))
            """,
            """
            CREATE TABLE model_alias (team text COLLATE "C" NOT NULL, model text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL,
              version text NOT NULL, body bytea NOT NULL, PRIMARY KEY (team, model, name))
            """,
        ]),
        Migration(name: "v6-model-approvals", statements: [
            """
            CREATE TABLE model_approval (team text NOT NULL, model text NOT NULL, version text NOT NULL, by text NOT NULL,
              seq bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (team, model, version, by))
            """,
        ]),
        Migration(name: "v7-rollouts", statements: [
            "CREATE TABLE rollout (team text COLLATE \"C\" NOT NULL, service text COLLATE \"C\" NOT NULL, body bytea NOT NULL, PRIMARY KEY (team, service))",
        ]),
        Migration(name: "v8-document-reviews", statements: [
            """
            CREATE TABLE document_review (team text NOT NULL, digest text NOT NULL, by text NOT NULL, seq bigint NOT NULL,
              body bytea NOT NULL, PRIMARY KEY (team, digest, by))
            """,
        ]),
        Migration(name: "v9-usage", statements: [
            """
            CREATE TABLE usage (day text COLLATE "C" NOT NULL, workload text COLLATE "C" NOT NULL, team text COLLATE "C" NOT NULL,
              accelerator text COLLATE "C", gpu double precision NOT NULL, cpu double precision NOT NULL, memory double precision NOT NULL,
              body bytea NOT NULL, PRIMARY KEY (day, workload))
            """,
            "CREATE INDEX usage_team ON usage (team)",
            "CREATE TABLE usage_cursor (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL)",
        ]),
        Migration(name: "v10-usage-inference", statements: [
            """
            ALTER TABLE usage ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0, ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
              ADD COLUMN requests bigint NOT NULL DEFAULT 0, ADD COLUMN load_seconds double precision NOT NULL DEFAULT 0,
              ADD COLUMN loads bigint NOT NULL DEFAULT 0
            """,
        ]),
        // Leadership among replicas: the epoch of the last claim, which fences every write of an earlier leader.
        // ...and the wake-up of other processes' transition tails: one notification per transaction that appended
        // transitions (PostgreSQL folds repeats of one payload), sent at its commit.
        Migration(name: "v11-leadership", statements: [
            "CREATE TABLE leadership (id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, holder text NOT NULL, since timestamptz NOT NULL)",
            """
            CREATE FUNCTION tarmac_transitions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('tarmac_transitions', ''); RETURN NULL; END $$
            """,
            "CREATE TRIGGER transition_notify AFTER INSERT ON transition FOR EACH STATEMENT EXECUTE FUNCTION tarmac_transitions_notify()",
        ]),
    ]

    /// The advisory lock held while migrating ('tarmac' and 2): replicas that start together migrate one at a time,
    /// and the later ones find nothing left to do.
    static let migrationLock: Int64 = 0x7461_726D_6163_0002

    /// Creates the table of applied migrations if there is none.
    static func prepare(_ sql: SQLSession) async throws {
        try await sql.execute("CREATE TABLE IF NOT EXISTS tarmac_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
    }

    static func applied(_ sql: SQLSession) async throws -> [String] {
        let exists = try await sql.value("SELECT to_regclass('tarmac_migration') IS NOT NULL", as: Bool.self) ?? false
        guard exists else { return [] }
        return try await sql.rows("SELECT name FROM tarmac_migration ORDER BY applied_at, name").map { try $0.decode(String.self) }
    }

    /// Applies what is missing, each migration in a transaction of its own; the names applied now.
    static func migrate(_ sql: SQLSession) async throws -> [String] {
        try await sql.execute("SELECT pg_advisory_lock(\(migrationLock))")
        do {
            try await prepare(sql)
            let done = Set(try await applied(sql))
            let unknown = done.subtracting(all.map(\.name))
            guard unknown.isEmpty else { throw PostgresStoreError.newerSchema(unknown: unknown.sorted()) }
            var now: [String] = []
            for m in all where !done.contains(m.name) {
                try await sql.transaction {
                    for s in m.statements { try await sql.execute(PostgresQuery(unsafeSQL: s)) }
                    try await sql.execute("INSERT INTO tarmac_migration (name) VALUES (\(m.name))")
                }
                now.append(m.name)
            }
            try await sql.execute("SELECT pg_advisory_unlock(\(migrationLock))")
            return now
        } catch {
            try? await sql.execute("SELECT pg_advisory_unlock(\(migrationLock))")
            throw error
        }
    }
}
