// swift-tools-version:5.9
// TokenreelKit: the torch-free runtime of tokenreel (tokenreel/runtime/*.py) ported to Swift.
// TokenreelCore is plain Swift + Foundation + CryptoKit; TokenreelCoreML adds the Core ML backends.
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
        .testTarget(
            name: "TokenreelCoreTests",
            dependencies: ["TokenreelCore"],
            resources: [.copy("Resources")]
        ),
        .testTarget(name: "TokenreelCoreMLTests", dependencies: ["TokenreelCore", "TokenreelCoreML"]),
    ]
)
