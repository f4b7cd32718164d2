// swift-tools-version: 6.1
import PackageDescription

// Dependencies point one way, down the layers of ARCHITECTURE.md: the executable wires the edges (server, backends,
// stores) to the control plane (TarmacRuntime); seams and the values they pass live below it in TarmacCore, over TarmacPlanning -> TarmacEngine/TarmacContract -> TarmacModel.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "Tarmac",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tarmac", targets: ["tarmac"]),
        .library(name: "TarmacModel", targets: ["TarmacModel"]),
        .library(name: "TarmacContract", targets: ["TarmacContract"]),
        .library(name: "TarmacManifests", targets: ["TarmacManifests"]),
        .library(name: "TarmacKinds", targets: ["TarmacKinds"]),
        .library(name: "TarmacDelivery", targets: ["TarmacDelivery"]),
        .library(name: "TarmacEngine", targets: ["TarmacEngine"]),
        .library(name: "TarmacSimulator", targets: ["TarmacSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
    ],
    targets: [
        .target(name: "TarmacModel", swiftSettings: strict),
        .target(name: "TarmacEngine", swiftSettings: strict),
        // Agent and workload identity, pure: JWT-SVID and access-token claims, signing keys, grants, exchange rules,
        // what a tool call needs.
        .target(
            name: "TarmacIdentity",
            dependencies: ["TarmacModel", "TarmacAPI", .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // Contract + engine -> cluster, pools, quotas, pod shapes, resolved workload plans: the one translation, pure.
        .target(name: "TarmacPlanning", dependencies: ["TarmacEngine", "TarmacModel", "TarmacContract", "TarmacAPI"], swiftSettings: strict),
        .target(name: "TarmacSimulator", dependencies: ["TarmacPlanning", "TarmacEngine", "TarmacModel", "TarmacContract"], swiftSettings: strict),
        // The API's wire types: what the server sends, the CLI reads and the portal and SDKs will use. Foundation only.
        .target(name: "TarmacAPI", swiftSettings: strict),
        // Working directories: packing (ignore files, deterministic archives, content digests), storing, unpacking.
        .target(name: "TarmacWorkdir", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(
            name: "TarmacContract",
            dependencies: ["TarmacModel", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(name: "TarmacManifests", dependencies: ["TarmacModel", "TarmacContract"], swiftSettings: strict),
        // One folder per workload kind (training, batch, inference, agent): its objects, its local pods' roles; the one
        // writer of pods' environment; rendering a resolved workload (its plan).
        .target(name: "TarmacKinds", dependencies: ["TarmacModel", "TarmacContract", "TarmacPlanning", "TarmacManifests", "TarmacDelivery"], swiftSettings: strict),
        // The seams and the values they pass: per-concern Store protocols, Backend, the clock, Transition and its stream,
        // the audit record and actor, the tracked workload, API tokens and the caller. No I/O; stores, backends, the
        // gateway and the controllers import this, not the control plane.
        .target(
            name: "TarmacCore",
            dependencies: ["TarmacModel", "TarmacEngine", "TarmacPlanning", "TarmacIdentity", "TarmacAPI", "TarmacDelivery", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // The control plane: the workload state machine, its effect runner and the scheduling loop.
        .target(
            name: "TarmacRuntime",
            dependencies: [
                "TarmacCore", "TarmacKinds", "TarmacModel", "TarmacContract", "TarmacEngine", "TarmacPlanning", "TarmacAPI", "TarmacIdentity", "TarmacDelivery",
                "TarmacMetering",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // Model delivery: the registry's pure parts (semantic versions, manifests of every file's digest, signatures
        // over them); promotion gates and rollouts join here.
        .target(name: "TarmacDelivery", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // The credential controller: JWT-SVIDs for attested pods, token exchange, grants, key rotation, the deny list.
        .target(
            name: "TarmacCredentials",
            dependencies: [
                "TarmacCore", "TarmacIdentity", "TarmacModel", "TarmacAPI", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "TarmacStoreSQLite",
            dependencies: ["TarmacCore", "TarmacPlanning", "TarmacModel", "TarmacIdentity", "TarmacDelivery", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The store of Tarmac in the cluster: the same store protocols on PostgreSQL (several replicas, one database).
        .target(
            name: "TarmacStorePostgres",
            dependencies: [
                "TarmacCore", "TarmacPlanning", "TarmacModel", "TarmacIdentity", "TarmacDelivery",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The Linux system calls of the local pod sandbox that Swift cannot call directly (Landlock, prctl, mount).
        .target(name: "CTarmacSandbox"),
        .target(
            name: "TarmacLocal",
            dependencies: [
                "TarmacCore", "TarmacPlanning", "TarmacWorkdir", "TarmacDelivery", "TarmacMetering", "CTarmacSandbox", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "TarmacServer",
            dependencies: [
                "TarmacRuntime", "TarmacCore", "TarmacCredentials", "TarmacIdentity", "TarmacAPI", "TarmacPlanning", "TarmacWorkdir", "TarmacContract", "TarmacModel", "TarmacDelivery",
                "TarmacMetering", "TarmacPortal",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("openapi.yaml")],
            swiftSettings: strict),
        // The self-service portal: server-rendered pages (swift-mustache) over the same control-plane functions as the API,
        // browser sessions with CSRF tokens, live updates from the transition stream (server-sent events).
        .target(
            name: "TarmacPortal",
            dependencies: [
                "TarmacRuntime", "TarmacCore", "TarmacAPI", "TarmacContract", "TarmacModel", "TarmacWorkdir",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // The tool gateway: verifies per-tool tokens, checks scopes (routes and MCP), forwards with its own credential, audits.
        .target(
            name: "TarmacGateway",
            dependencies: [
                "TarmacCredentials", "TarmacIdentity", "TarmacCore", "TarmacModel", "TarmacDelivery",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "TarmacKubernetes",
            dependencies: [
                "TarmacModel", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        .target(
            name: "TarmacKubernetesBackend",
            dependencies: [
                "TarmacKubernetes", "TarmacCore", "TarmacKinds", "TarmacPlanning", "TarmacManifests", "TarmacContract", "TarmacModel", "TarmacDelivery",
                "TarmacMetering", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Several clusters as one backend: one Kubernetes backend per cluster, routed by the engine's placement.
        .target(
            name: "TarmacFleet",
            dependencies: [
                "TarmacCore", "TarmacPlanning", "TarmacContract", "TarmacModel", "TarmacKubernetesBackend",
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The first subscriber of the transition stream: GPU- and CPU-seconds, admissions, preemptions, completions.
        .target(
            name: "TarmacMetering",
            dependencies: [
                "TarmacCore", "TarmacModel", "TarmacAPI", .product(name: "Metrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .target(
            name: "TarmacFakeCluster",
            dependencies: ["TarmacCore", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // Test builders, and the conformance suite every store runs (StoreConformance).
        .target(
            name: "TarmacTesting",
            dependencies: ["TarmacModel", "TarmacContract", "TarmacEngine", "TarmacCore", "TarmacIdentity", "TarmacPlanning", "TarmacKinds", "TarmacDelivery",
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .executableTarget(
            name: "tarmac",
            dependencies: [
                "TarmacModel", "TarmacContract", "TarmacManifests", "TarmacKinds", "TarmacEngine", "TarmacPlanning", "TarmacSimulator", "TarmacAPI", "TarmacWorkdir",
                "TarmacCore", "TarmacRuntime", "TarmacMetering", "TarmacStoreSQLite", "TarmacStorePostgres", "TarmacLocal", "TarmacServer", "TarmacKubernetes", "TarmacKubernetesBackend", "TarmacFleet",
                "TarmacIdentity", "TarmacCredentials", "TarmacGateway", "TarmacDelivery", "TarmacPortal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "TarmacBenchmarks",
            dependencies: [
                "TarmacModel", "TarmacContract", "TarmacManifests", "TarmacKinds", "TarmacTesting", "TarmacEngine", "TarmacPlanning", "TarmacSimulator",
                "TarmacCore", "TarmacRuntime", "TarmacStoreSQLite", "TarmacStorePostgres", "TarmacKubernetes", "TarmacKubernetesBackend", "TarmacFleet", "TarmacFakeCluster", "TarmacAPI", "TarmacMetering",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/TarmacBenchmarks",
            swiftSettings: strict),
        .testTarget(
            name: "TarmacModelTests",
            dependencies: ["TarmacModel", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacContractTests",
            dependencies: [
                "TarmacContract", "TarmacKinds", "TarmacTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacManifestsTests",
            dependencies: [
                "TarmacManifests", "TarmacKinds", "TarmacTesting", .product(name: "Yams", package: "Yams"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacEngineTests",
            dependencies: ["TarmacEngine", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacIdentityTests",
            dependencies: ["TarmacIdentity", "TarmacModel", "TarmacAPI", .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(name: "TarmacSimulatorTests", dependencies: ["TarmacSimulator", "TarmacPlanning", "TarmacTesting"], swiftSettings: strict),
        .testTarget(
            name: "TarmacRuntimeTests",
            dependencies: ["TarmacCore", "TarmacRuntime", "TarmacPlanning", "TarmacKinds", "TarmacMetering", "TarmacStoreSQLite", "TarmacLocal", "TarmacTesting", "TarmacWorkdir", "TarmacDelivery",
                           "TarmacContract", "TarmacEngine", "TarmacModel", "TarmacCredentials", "TarmacIdentity",
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacPortalTests",
            dependencies: ["TarmacPortal", "TarmacRuntime", "TarmacCore", "TarmacAPI", "TarmacContract", "TarmacModel", "TarmacTesting",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacServerTests",
            dependencies: ["tarmac", "TarmacAPI", "TarmacTesting", "TarmacWorkdir", "TarmacGateway", "TarmacServer", "TarmacCore", "TarmacRuntime", "TarmacContract",
                           "TarmacKubernetesBackend", "TarmacStorePostgres",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "PropertyBased", package: "swift-property-based"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacKubernetesTests",
            dependencies: [
                "TarmacKubernetes", "TarmacKubernetesBackend", "TarmacFakeCluster", "TarmacTesting",
                "TarmacCore", "TarmacRuntime", "TarmacPlanning", "TarmacKinds", "TarmacStoreSQLite", "TarmacContract", "TarmacWorkdir", "TarmacDelivery",
                "TarmacMetering", "TarmacModel", "TarmacStorePostgres", "tarmac", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacKindsTests",
            dependencies: ["TarmacKinds", "TarmacManifests", "TarmacPlanning", "TarmacContract", "TarmacModel", "TarmacTesting", "TarmacDelivery",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(name: "TarmacLocalTests", dependencies: ["TarmacLocal", "TarmacContract", "TarmacTesting", "TarmacMetering"], swiftSettings: strict),
        .testTarget(
            name: "TarmacCredentialsTests",
            dependencies: ["TarmacCredentials", "TarmacCore", "TarmacRuntime", "TarmacStoreSQLite", "TarmacIdentity", "TarmacContract", "TarmacTesting",
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacGatewayTests",
            dependencies: ["TarmacGateway", "TarmacModel", "TarmacCore", "TarmacDelivery", "TarmacTesting", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacWorkdirTests",
            dependencies: ["TarmacWorkdir", "TarmacTesting", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict),
        .testTarget(name: "TarmacFleetTests", dependencies: ["TarmacFleet", "TarmacCore", "TarmacPlanning", "TarmacContract", "TarmacRuntime", "TarmacStoreSQLite", "TarmacTesting"], swiftSettings: strict),
        .testTarget(name: "TarmacPlanningTests", dependencies: ["TarmacPlanning", "TarmacContract", "TarmacModel", "TarmacTesting"], swiftSettings: strict),
        .testTarget(
            name: "TarmacMeteringTests",
            dependencies: ["TarmacMetering", "TarmacCore", "TarmacTesting", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(name: "TarmacAPITests", dependencies: ["TarmacAPI", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict),
        .testTarget(
            name: "TarmacDeliveryTests",
            dependencies: ["TarmacDelivery", "TarmacTesting", .product(name: "PropertyBased", package: "swift-property-based"),
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(name: "TarmacCoreTests", dependencies: ["TarmacCore", "TarmacIdentity", "TarmacPlanning", "TarmacDelivery", "TarmacTesting"], swiftSettings: strict),
        .testTarget(name: "TarmacStoreSQLiteTests", dependencies: ["TarmacStoreSQLite", "TarmacCore", "TarmacIdentity", "TarmacPlanning", "TarmacRuntime", "TarmacTesting"], swiftSettings: strict),
        .testTarget(name: "TarmacStorePostgresTests", dependencies: ["TarmacStorePostgres", "TarmacStoreSQLite", "TarmacCore", "TarmacTesting"], swiftSettings: strict),
        .testTarget(name: "TarmacCLITests", dependencies: ["tarmac", "TarmacTesting"], swiftSettings: strict),
    ]
)
