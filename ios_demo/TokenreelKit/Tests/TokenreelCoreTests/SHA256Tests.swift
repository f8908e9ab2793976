#if canImport(CryptoKit)
import CryptoKit
#endif
import Foundation
@testable import TokenreelCore
import XCTest

/// PortableSHA256 (the manifest's hasher where CryptoKit is absent) against FIPS 180-4 / NIST vectors, fed
/// whole and in pieces across the 64-byte block boundaries; against CryptoKit where that exists.
/// ManifestTests.testRealExport checks the hashes of a real export (files and .mlpackage folders) against
/// the ones Python's hashlib wrote into its manifest.
final class SHA256Tests: XCTestCase {
    func digest(_ bytes: [UInt8], pieces: Int = 1) -> String {
        var h = PortableSHA256()
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        for start in stride(from: 0, to: bytes.count, by: size) {
            h.update(data: bytes[start..<min(start + size, bytes.count)])
        }
        return hex(h.finalize())
    }

    func testNISTVectors() {
        let cases: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ]
        for (text, expected) in cases {
            for pieces in [1, 2, 3, 7] { XCTAssertEqual(digest(Array(text.utf8), pieces: pieces), expected, "\(text) in \(pieces)") }
        }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(digest(million, pieces: 13), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testPiecesDoNotMatter() {
        // lengths around the padding (55, 56 bytes) and block (64) boundaries, fed in every piece count
        let bytes = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 200] {
            let whole = digest(Array(bytes[0..<n]))
            for pieces in 2...9 { XCTAssertEqual(digest(Array(bytes[0..<n]), pieces: pieces), whole, "\(n) bytes in \(pieces)") }
            #if canImport(CryptoKit)
            XCTAssertEqual(whole, hex(Array(CryptoKit.SHA256.hash(data: Data(bytes[0..<n])))), "\(n) bytes vs CryptoKit")
            #endif
        }
    }

    func testFileHash() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        // larger than fileSHA256's 1 MiB reads, not a whole number of them
        let bytes = (0..<((1 << 20) * 2 + 100)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try Data(bytes).write(to: url)
        XCTAssertEqual(try fileSHA256(url), digest(bytes))
    }
}
