import Foundation
import TokenreelCore
import XCTest

/// The model case of `tokenreel verify DIR --write-golden GDIR` (tokenreel/verify/golden.py): from the
/// server transformer's logits of one real window (the same logits at every step), maskgitDecode must pick
/// exactly the tokens Python picked.
final class VerifyGoldenTests: XCTestCase {
    func testTransformerPicks() throws {
        let dir = try Golden.verifyDir()
        let index = try Golden.json("golden.json", in: dir)
        XCTAssertEqual(index["sampler"]?.stringValue, samplerSpecVersion)
        let shape = index["files"]!["transformer-logits.f32"]!["shape"]!.ints   // (splits, N, V)
        let (splits, n, v) = (shape[0], shape[1], shape[2])
        let raw = try Golden.data("transformer-logits.f32", in: dir)
        XCTAssertEqual(raw.count, splits * n * v * 4)
        let logits: [Float] = (0..<(raw.count / 4)).map { k in
            var bits: UInt32 = 0
            for b in 0..<4 { bits |= UInt32(raw[raw.startIndex + 4 * k + b]) << (8 * b) }   // little-endian
            return Float(bitPattern: bits)
        }
        let picks = try Golden.json("transformer-picks.json", in: dir)
        let subBits = v.trailingZeroBitCount
        XCTAssertEqual(1 << subBits, v)
        let out = try maskgitDecode(logits: { _ in logits }, tokens: picks["tokens_in"]!.ints.map { Int32($0) },
                                    known: picks["known"]!.bools, splits: splits, subBits: subBits, maskId: v,
                                    steps: picks["steps"]!.intValue!, seed: Int64(picks["seed"]!.intValue!))
        let expected = picks["tokens_out"]!.ints
        let same = zip(out.map { Int($0) }, expected).filter { $0 == $1 }.count
        XCTAssertEqual(same, expected.count, "\(expected.count - same) of \(expected.count) picks differ")
    }
}
