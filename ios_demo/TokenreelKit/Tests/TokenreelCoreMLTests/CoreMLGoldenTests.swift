// Core ML exists only on Apple platforms: elsewhere (Linux) this file compiles to nothing.
#if canImport(CoreML)
import CoreML
import Foundation
import TokenreelCore
import TokenreelCoreML
import XCTest

/// The Core ML artifacts against the verify golden files (macOS; skipped unless TOKENREEL_MODELS names an
/// export folder with Core ML artifacts and TOKENREEL_VERIFY_GOLDEN a `--write-golden` folder of the same
/// frame size). Thresholds are docs/verify.md's for the precision (TOKENREEL_PRECISION, default fp16).
final class CoreMLGoldenTests: XCTestCase {
    struct Setup {
        let models: URL, golden: URL, manifest: Manifest, precision: String
        let index: [String: JSONValue]
    }

    func setup() throws -> Setup {
        let env = ProcessInfo.processInfo.environment
        guard let m = env["TOKENREEL_MODELS"], !m.isEmpty, let g = env["TOKENREEL_VERIFY_GOLDEN"], !g.isEmpty else {
            throw XCTSkip("set TOKENREEL_MODELS (a `tokenreel export --formats coreml` folder) and TOKENREEL_VERIFY_GOLDEN")
        }
        let models = URL(fileURLWithPath: m), golden = URL(fileURLWithPath: g)
        let manifest = try Manifest.read(folder: models, verify: false)
        let index = try JSONValue.parse(Data(contentsOf: golden.appendingPathComponent("golden.json")))["files"]!.objectValue!
        return Setup(models: models, golden: golden, manifest: manifest, precision: env["TOKENREEL_PRECISION"] ?? "fp16",
                     index: index)
    }

    func testEncoderBitsEqual() async throws {
        let s = try setup()
        let shape = s.index["encoder-frames.u8"]!["shape"]!.arrayValue!.map { $0.intValue! }   // (F, H, W, 3)
        guard [shape[2], shape[1]] == s.manifest.geometry.frameSize else {
            throw XCTSkip("the golden frames are \(shape[2])x\(shape[1]), the export \(s.manifest.geometry.frameSize)")
        }
        let tok = try await CoreMLTokenizer.load(folder: s.models, manifest: s.manifest, precision: s.precision)
        let raw = [UInt8](try Data(contentsOf: s.golden.appendingPathComponent("encoder-frames.u8")))
        let per = shape[1] * shape[2] * 3
        var frames = (0..<shape[0]).map { Frame(width: shape[2], height: shape[1], rgb: Array(raw[($0 * per)..<(($0 + 1) * per)])) }
        frames.reverse()
        let enc = try encodeFrames(tok, next: { frames.popLast() })!
        let expected = try JSONValue.parse(Data(contentsOf: s.golden.appendingPathComponent("encoder-tokens.json")))
        let want = expected.arrayValue!.flatMap { $0.arrayValue!.flatMap { $0.arrayValue!.map { Int32($0.intValue!) } } }
        XCTAssertEqual(enc.tokens.data.count, want.count)
        var same = 0
        for (a, b) in zip(enc.tokens.data, want) { same += tok.bits - (a ^ b).nonzeroBitCount }
        let bitsEqual = Double(same) / Double(want.count * tok.bits)
        let limit = ["fp32": 0.9999, "fp16": 0.99, "int8": 0.98][s.precision] ?? 0.98
        XCTAssertGreaterThanOrEqual(bitsEqual, limit, "encoder bits equal \(bitsEqual) < \(limit)")
    }

    func testTransformerTop1() async throws {
        let s = try setup()
        guard let lshape = s.index["transformer-logits.f32"]?["shape"]?.arrayValue?.map({ $0.intValue! }) else {
            throw XCTSkip("the golden folder has no transformer case")
        }
        let tf = try await CoreMLTransformer.load(folder: s.models, manifest: s.manifest, precision: s.precision)
        let sub = try JSONValue.parse(Data(contentsOf: s.golden.appendingPathComponent("transformer-sub-tokens.json")))
        let flat = sub.arrayValue!.flatMap { $0.arrayValue!.map { Int64($0.intValue!) } }
        guard flat.count == tf.splits * tf.window.t * tf.window.h * tf.window.w else {
            throw XCTSkip("the golden window is not this export's window")
        }
        let got = try tf.logits(flat)
        let raw = try Data(contentsOf: s.golden.appendingPathComponent("transformer-logits.f32"))
        let want: [Float] = (0..<(raw.count / 4)).map { k in
            var bits: UInt32 = 0
            for b in 0..<4 { bits |= UInt32(raw[raw.startIndex + 4 * k + b]) << (8 * b) }
            return Float(bitPattern: bits)
        }
        XCTAssertEqual(got.count, want.count)
        let v = lshape[2], rows = got.count / v
        func argmax(_ a: [Float], _ r: Int) -> Int { (0..<v).max { a[r * v + $0] < a[r * v + $1] }! }
        let agree = (0..<rows).filter { argmax(got, $0) == argmax(want, $0) }.count
        let limit = s.precision == "fp32" ? 0.999 : 0.95
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(rows), limit)
    }
}
#endif
