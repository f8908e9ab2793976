import TokenreelCore
import XCTest

/// tests/golden/composite.json (tokenreel/runtime/spec_cases.py's composite_case): reframe's feathered paste and
/// extend's change on the source's last frame give Python's bytes.
final class CompositeGoldenTests: XCTestCase {
    /// {"shape": [F, H, W, 3], "data": [...]} -> F frames.
    func frames(_ v: JSONValue) -> [Frame] {
        let shape = v["shape"]!.ints, data = v["data"]!.ints.map { UInt8($0) }
        let size = shape[1] * shape[2] * 3
        return (0..<shape[0]).map { Frame(width: shape[2], height: shape[1], rgb: Array(data[($0 * size)..<(($0 + 1) * size)])) }
    }

    func testReframedFrames() throws {
        let g = try Golden.json("composite.json")
        let b = g["box"]!.ints, box = PixelBox(y0: b[0], x0: b[1], y1: b[2], x1: b[3])
        let canvas = frames(g["canvas"]!), source = frames(g["source"]!)
        let weights = featherWeights(height: canvas[0].height, width: canvas[0].width, box: box,
                                     feather: g["feather"]!.intValue!)
        XCTAssertEqual(weights.map { Int($0) }, g["weights"]!["data"]!.ints)
        let out = zip(canvas, source).map { reframedFrame($0, source: $1, box: box, weights: weights) }
        XCTAssertEqual(out.map(\.rgb), frames(g["reframed"]!).map(\.rgb))
    }

    func testExtendedFrames() throws {
        let g = try Golden.json("composite.json")
        XCTAssertNil(g["fade_frames"], "composite.json still has the fade-in's frame count")
        let source = frames(g["extend_source"]!), generated = frames(g["generated"]!), draft = frames(g["draft"]!)
        let out = extendedFrames(source: source, generated: generated, draft: draft)
        XCTAssertEqual(out.map(\.rgb), frames(g["extended"]!).map(\.rgb))
        // no source frames: the generated frames as they are
        XCTAssertEqual(extendedFrames(source: [], generated: generated, draft: draft).map(\.rgb), generated.map(\.rgb))
    }
}
