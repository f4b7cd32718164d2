// swift-tools-version: 6.1
import PackageDescription

// Dependencies point one way: tarmac (executable) -> TarmacManifests -> TarmacContract -> TarmacModel.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "Tarmac",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tarmac", targets: ["tarmac"]),
        .library(name: "TarmacModel", targets: ["TarmacModel"]),
        .library(name: "TarmacContract", targets: ["TarmacContract"]),
        .library(name: "TarmacManifests", targets: ["TarmacManifests"]),
        .library(name: "TarmacEngine", targets: ["TarmacEngine"]),
        .library(name: "TarmacSimulator", targets: ["TarmacSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
    ],
    targets: [
        .target(name: "TarmacModel", swiftSettings: strict),
        .target(name: "TarmacEngine", swiftSettings: strict),
        .target(name: "TarmacSimulator", dependencies: ["TarmacEngine", "TarmacModel", "TarmacContract"], swiftSettings: strict),
        .target(
            name: "TarmacContract",
            dependencies: ["TarmacModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(name: "TarmacManifests", dependencies: ["TarmacModel", "TarmacContract"], swiftSettings: strict),
        .target(name: "TarmacTesting", dependencies: ["TarmacModel", "TarmacContract"], swiftSettings: strict),
        .executableTarget(
            name: "tarmac",
            dependencies: [
                "TarmacModel", "TarmacContract", "TarmacManifests", "TarmacEngine", "TarmacSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "TarmacBenchmarks",
            dependencies: ["TarmacModel", "TarmacContract", "TarmacManifests", "TarmacTesting", "TarmacEngine", "TarmacSimulator"],
            path: "Benchmarks/TarmacBenchmarks",
            swiftSettings: strict),
        .testTarget(
            name: "TarmacModelTests",
            dependencies: ["TarmacModel", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacContractTests",
            dependencies: [
                "TarmacContract", "TarmacTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacManifestsTests",
            dependencies: [
                "TarmacManifests", "TarmacTesting", .product(name: "Yams", package: "Yams"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TarmacEngineTests",
            dependencies: ["TarmacEngine", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(name: "TarmacSimulatorTests", dependencies: ["TarmacSimulator", "TarmacTesting"], swiftSettings: strict),
        .testTarget(name: "TarmacCLITests", dependencies: ["tarmac", "TarmacTesting"], swiftSettings: strict),
    ]
)
