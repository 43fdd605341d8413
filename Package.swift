// swift-tools-version:6.0
import PackageDescription

// Release builds of the bytecode and runtime leave out the run-time exclusivity checks (the
// debug builds the tests run keep them): on the runtime's hot paths they were 4–6% of a run's
// instructions (docs/decisions.md). Not on the targets behind the library products: a package
// depending on this one cannot take unsafe flags.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "journey",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "journey", targets: ["journey"]),
        .library(name: "JourneySyntax", targets: ["JourneySyntax"]),
        .library(name: "JourneySemantics", targets: ["JourneySemantics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // Layer 0: one diagnostic type and its renderers, shared by every layer and front end.
        .target(name: "JourneyDiagnostics"),
        // Layer 1: source → tokens → syntax tree (with comments), and the formatter.
        .target(name: "JourneySyntax", dependencies: ["JourneyDiagnostics"]),
        // Layer 2: schema, names, types, lints.
        .target(name: "JourneySemantics", dependencies: ["JourneySyntax", "JourneyDiagnostics"]),
        // Layer 3: compiler, bundle format, verifier, disassembler.
        .target(name: "JourneyBytecode", dependencies: ["JourneySemantics", "JourneySyntax", "JourneyDiagnostics"], swiftSettings: releaseSettings),
        // The system SQLite (libsqlite3-dev).
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // Layer 4: VM, store, clock, outbox.
        .target(name: "JourneyRuntime", dependencies: ["JourneyBytecode", "CSQLite"], swiftSettings: releaseSettings),
        // libpq (libpq-dev), for the PostgreSQL store.
        .systemLibrary(name: "CPostgres", providers: [.apt(["libpq-dev"])]),
        // Layer 4, second store: the runtime's storage on PostgreSQL, shared by many workers
        // (the engine does not know which store it runs on).
        .target(name: "JourneyPostgres", dependencies: ["JourneyRuntime", "JourneyBytecode", "CPostgres"]),
        // Layer 5: the runtime as a service (HTTP in; the engine never imports HTTP), and its
        // console (journey diagrams drawn from the deployed bundle's source).
        .target(name: "JourneyService", dependencies: [
            "JourneyRuntime", "JourneyBytecode", "JourneyDiagnostics", "JourneyDiagrams", "JourneySyntax",
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // Tests of journeys (`test "…" { … }`), run on the simulator's engine.
        .target(name: "JourneyTesting", dependencies: ["JourneyRuntime", "JourneyBytecode", "JourneySemantics", "JourneySyntax", "JourneyDiagnostics"]),
        // Front end: the language server.
        .target(name: "JourneyLanguageServer", dependencies: ["JourneySemantics", "JourneySyntax", "JourneyDiagnostics", "JourneyBytecode", "JourneyTesting"]),
        // Front end: journey flow diagrams.
        .target(name: "JourneyDiagrams", dependencies: ["JourneySyntax", "JourneyDiagnostics"]),
        // Front end: the `journey` command.
        .executableTarget(
            name: "journey",
            dependencies: [
                "JourneyDiagnostics", "JourneySyntax", "JourneySemantics", "JourneyBytecode", "JourneyRuntime", "JourneyLanguageServer", "JourneyDiagrams", "JourneyService", "JourneyTesting", "JourneyPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        // A coverage-guided fuzz target for nightly runs (README, "Fuzzing"); without FUZZING
        // it replays inputs given on the command line.
        .executableTarget(
            name: "journey-fuzz",
            dependencies: ["JourneyDiagnostics", "JourneySyntax", "JourneySemantics", "JourneyBytecode", "JourneyRuntime"]
        ),
        .testTarget(name: "JourneySyntaxTests", dependencies: ["JourneySyntax"]),
        .testTarget(name: "JourneySemanticsTests", dependencies: ["JourneySemantics", "JourneySyntax"]),
        .testTarget(name: "JourneyBytecodeTests", dependencies: ["JourneyBytecode", "JourneySemantics", "JourneySyntax"]),
        .testTarget(name: "JourneyRuntimeTests", dependencies: ["JourneyRuntime", "JourneyBytecode", "JourneySemantics", "JourneySyntax"]),
        .testTarget(name: "JourneyServiceTests", dependencies: [
            "JourneyService", "JourneyRuntime", "JourneyBytecode", "JourneyDiagrams", "JourneySemantics", "JourneySyntax",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "JourneyCLITests", dependencies: ["journey"]),
    ]
)
