import TokenreelCore
import XCTest

/// Resources/edit-golden.json, written by Tests/make_edit_golden.py from tokenreel/runtime/edit.py with
/// a fake transformer: window tiling, visit order and per-window seeds of reframe and extend, token for token.
struct FakeTransformer: TransformerBackend {
    let window = WindowSize(t: 3, h: 6, w: 6)
    let bits = 6, splits = 2, subBits = 3, maskId = 8

    /// logits[j][n][v] = ((7v + 3n + 5j + 11·sub[j][(n+1) mod N]) mod 17) / 2, as make_edit_golden.py.
    func logits(_ sub: [Int64]) throws -> [Float] {
        let n = sub.count / splits, v = 1 << subBits
        var out = [Float](repeating: 0, count: splits * n * v)
        for j in 0..<splits {
            for i in 0..<n {
                let next = Int(sub[j * n + (i + 1) % n])
                for k in 0..<v { out[(j * n + i) * v + k] = Float((k * 7 + i * 3 + j * 5 + next * 11) % 17) * 0.5 }
            }
        }
        return out
    }
}

final class EditGoldenTests: XCTestCase {
    func testExtensionLeavesOutTheSourcePadding() {
        // 15 source frames take 5 latent frames: 1 + 4 groups of 4 = 17 positions, the last 2 repeats
        XCTAssertEqual(paddedFrames(latentFrames: 5, group: 4), 17)
        let kept = (0..<25).filter { keepsFrame($0, real: 15, padded: 17) }
        XCTAssertEqual(kept, Array(0..<15) + Array(17..<25))
    }

    func testTileStarts() throws {
        for c in try Golden.resource("edit-golden.json")["tile_starts"]!.arrayValue! {
            XCTAssertEqual(tileStarts(c["length"]!.intValue!, c["size"]!.intValue!, minOverlap: c["min_overlap"]!.intValue!),
                           c["starts"]!.ints, "\(c)")
        }
    }

    func testCropAndOutpaintCanvas() throws {
        let g = try Golden.resource("edit-golden.json")
        for c in g["crop"]!.arrayValue! {
            XCTAssertEqual(try reframeCrop(c["tokens"]!.tokenGrid, aspect: c["aspect"]!.stringValue!), c["out"]!.tokenGrid)
        }
        for c in g["outpaint"]!.arrayValue! {
            let (canvas, known) = try outpaintCanvas(c["tokens"]!.tokenGrid, aspect: c["aspect"]!.stringValue!)
            XCTAssertEqual(canvas, c["canvas"]!.tokenGrid)
            XCTAssertEqual(known, c["known"]!.knownGrid)
        }
    }

    func testReframeOutpaint() throws {
        for c in try Golden.resource("edit-golden.json")["reframe"]!.arrayValue! {
            var steps = 0
            let (out, calls) = try reframeOutpaint(FakeTransformer(), c["tokens"]!.tokenGrid, aspect: c["aspect"]!.stringValue!,
                                                   steps: c["steps"]!.intValue!, seed: Int64(c["seed"]!.intValue!),
                                                   progress: { steps += $0 })
            XCTAssertEqual(out, c["out"]!.tokenGrid, "reframe \(c["aspect"]!)")
            XCTAssertEqual(calls, c["calls"]!.intValue!)
            XCTAssertLessThanOrEqual(steps, calls)
        }
    }

    func testExtend() throws {
        for c in try Golden.resource("edit-golden.json")["extend"]!.arrayValue! {
            let (out, calls) = try extend(FakeTransformer(), c["tokens"]!.tokenGrid, frames: c["frames"]!.intValue!,
                                          steps: c["steps"]!.intValue!, seed: Int64(c["seed"]!.intValue!))
            XCTAssertEqual(out, c["out"]!.tokenGrid, "extend +\(c["frames"]!)")
            XCTAssertEqual(calls, c["calls"]!.intValue!)
        }
    }

    func testErrors() {
        XCTAssertThrowsError(try parseAspect("9x16"))
        XCTAssertThrowsError(try extend(FakeTransformer(), TokenGrid(t: 1, h: 6, w: 6, repeating: 0), frames: 4))
        XCTAssertThrowsError(try extend(FakeTransformer(), TokenGrid(t: 3, h: 6, w: 6, repeating: 0), frames: 0))
    }

    func testSeedsWrapLikePythonInts() {
        // Python: Generator(seed*1000003 + ...) masks an unbounded int to 64 bits; Int64 wrapping is the same
        let big: Int64 = 9_000_000_000_000_000_000
        let wrapped = big &* 1_000_003 &+ 4099
        let python = (UInt64(bitPattern: big) &* 1_000_003) &+ 4099
        XCTAssertEqual(Generator(seed: wrapped).key, python)
    }
}
