import Foundation
import TokenreelCore
import XCTest

/// The model case of `tokenreel verify DIR --write-golden GDIR` (tokenreel/verify/model_cases.py): from the
/// server transformer's logits of one real window (the same logits at every step), maskgitDecode must pick
/// exactly the tokens Python picked.
final class VerifyGoldenTests: XCTestCase {
    func testIndexNamesTheSamplerAndItsFiles() throws {
        let dir = try Golden.verifyDir()
        let index = try Golden.json("golden.json", in: dir)
        XCTAssertEqual(index["sampler"]?.stringValue, samplerSpecVersion)
        for name in index["files"]!.objectValue!.keys.sorted() + ["sampler-v1.json", "tokens.json", "tokens-ans-ctx.trl",
                                                                  "tokens-zstd.trl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name) missing")
        }
    }

    func testRuntimeCasesMatchTheRepositorys() throws {
        // the verify folder repeats the runtime's own golden files: they must equal tests/golden's
        let dir = try Golden.verifyDir()
        for name in ["sampler-v1.json", "tokens.json", "tokens-ans-ctx.trl"] {
            XCTAssertEqual(try Golden.data(name, in: dir), try Golden.data(name), name)
        }
    }

    func testEncoderCaseIsConsistent() throws {
        let dir = try Golden.verifyDir()
        let files = try Golden.json("golden.json", in: dir)["files"]!
        let frames = files["encoder-frames.u8"]!["shape"]!.ints        // (F, H, W, 3)
        XCTAssertEqual(try Golden.data("encoder-frames.u8", in: dir).count, frames.reduce(1, *))
        // 5 frames: the first alone, then one group of 4 -> 2 latent frames of (H/8, W/8)
        XCTAssertEqual(files["encoder-tokens.json"]!["shape"]!.ints, [2, frames[1] / 8, frames[2] / 8])
        var groups = FrameGroups(group: 4, perCall: 1), sizes: [Int] = []
        for _ in 0..<frames[0] { if let call = groups.push(Frame(width: 1, height: 1, rgb: [0, 0, 0])) { sizes.append(call.count) } }
        if let rest = groups.finish() { sizes.append(rest.count) }
        XCTAssertEqual(sizes, [1, 4])
    }

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
        // the stored sub-tokens are the window's tokens split as this port splits them
        let sub = try Golden.json("transformer-sub-tokens.json", in: dir).flatInts.map { Int64($0) }
        XCTAssertEqual(subTokensOf(picks["tokens_in"]!.ints.map { Int64($0) }, known: picks["known"]!.bools, splits: splits,
                                   subBits: subBits, maskId: v), sub)
        let expected = picks["tokens_out"]!.ints
        let same = zip(out.map { Int($0) }, expected).filter { $0 == $1 }.count
        XCTAssertEqual(same, expected.count, "\(expected.count - same) of \(expected.count) picks differ")
    }
}
