// swift-tools-version:5.9
// TokenreelKit: the torch-free runtime of tokenreel (tokenreel/runtime/*.py) ported to Swift.
// TokenreelCore is plain Swift + Foundation (+ CryptoKit where it exists: Apple platforms); TokenreelCoreML adds
// the Core ML backends, and compiles to an empty module where Core ML is absent (Linux), so `swift build` and
// `swift test` of the core run there too (tests/test_ios_core.py).
import PackageDescription

let package = Package(
    name: "TokenreelKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "TokenreelCore", targets: ["TokenreelCore"]),
        .library(name: "TokenreelCoreML", targets: ["TokenreelCoreML"]),
    ],
    targets: [
        .target(name: "TokenreelCore"),
        .target(name: "TokenreelCoreML", dependencies: ["TokenreelCore"]),
        .testTarget(name: "TokenreelCoreTests", dependencies: ["TokenreelCore"]),
        .testTarget(name: "TokenreelCoreMLTests", dependencies: ["TokenreelCore", "TokenreelCoreML"]),
    ]
)
