import TokenreelCore
import XCTest

/// A tokenizer stand-in: each latent is -1 or 0.5 by position and the video's call count (the state), each
/// decoded frame the first latent value (the Kotlin port's CodecTest has the same).
final class FakeTokenizer: TokenizerBackend {
    let tokenizerId = "fake", tokenizerSHA256 = "00"
    let bits = 3, spatial = 8, group = 4, latentsPerCall = 1
    var callSizes: [Int] = []

    func encodeStep(_ frames: Tensor, state: Int?) throws -> (Tensor, Int) {
        let (f, h, w) = (frames.shape[0], frames.shape[2], frames.shape[3])
        callSizes.append(f)
        let calls = (state ?? 0) + 1
        let latents = state == nil ? 1 + (f - 1) / group : f / group
        var out = Tensor(zeros: [latents, bits, h / spatial, w / spatial])
        for i in 0..<out.count { out.data[i] = (i + calls) % 3 == 0 ? -1 : 0.5 }
        return (out, calls)
    }

    func decodeStep(_ latents: Tensor, state: String?) throws -> (Tensor, String) {
        let (t, h, w) = (latents.shape[0], latents.shape[2], latents.shape[3])
        let frames = state == nil ? 1 + (t - 1) * group : t * group
        let shape = [frames, 3, h * spatial, w * spatial]
        return (Tensor(shape: shape, data: [Float](repeating: latents.data[0], count: shape.reduce(1, *))), "decoding")
    }
}

/// tokenizing.py and tiles.py behaviour that needs no golden file: frame grouping, streaming encode/decode,
/// pixel conversions, LFQ, tiled decoding's coverage and states.
final class CodecTests: XCTestCase {
    func frames(_ n: Int) -> [Frame] {
        (0..<n).map { i in Frame(width: 16, height: 8, rgb: (0..<(16 * 8 * 3)).map { UInt8(truncatingIfNeeded: i * 10 + $0) }) }
    }

    func groups(_ frames: [Frame], group: Int, perCall: Int) -> [[Frame]] {
        var g = FrameGroups(group: group, perCall: perCall), out: [[Frame]] = []
        for f in frames { if let call = g.push(f) { out.append(call) } }
        if let rest = g.finish() { out.append(rest) }
        return out
    }

    func testGroupsAsThePythonRuntime() {
        // codec.frame_groups: [1], then groups of 4; a short last group is padded with its last frame
        XCTAssertEqual(groups(frames(7), group: 4, perCall: 1).map(\.count), [1, 4, 4])
        XCTAssertEqual(groups(frames(10), group: 4, perCall: 2).map(\.count), [5, 8])
        let last = groups(frames(7), group: 4, perCall: 1).last!
        XCTAssertEqual(last[2].rgb, last[3].rgb)
    }

    func testEncodesAndDecodes() throws {
        let backend = FakeTokenizer()
        var source = frames(10).makeIterator()
        let enc = try XCTUnwrap(try encodeFrames(backend, next: { source.next() }))
        XCTAssertEqual(enc.frames, 10)
        XCTAssertEqual(backend.callSizes, [1, 4, 4, 4])
        XCTAssertEqual(enc.tokens.shape, [4, 1, 2])
        var decoded: [Frame] = []
        XCTAssertEqual(try decodeTokens(backend, enc.tokens, frames: enc.frames) { decoded.append($0) }, 10)
        XCTAssertEqual(decoded.count, 10)
        XCTAssertEqual(decoded[0].width, 16)
        XCTAssertNil(try encodeFrames(backend, next: { nil }))
    }

    func testPixelConversionsRoundTrip() {
        let f = frames(1)
        XCTAssertEqual(toUInt8(toFloat(f))[0].rgb, f[0].rgb)
        XCTAssertEqual(toFloat(f).data[0], Float(f[0].rgb[0]) / 127.5 - 1)
    }

    func testQuantizeAndLatentsAreInverse() {
        let grid = TokenGrid(t: 2, h: 2, w: 3, data: (0..<12).map { Int32(($0 * 5) % 8) })
        XCTAssertEqual(quantize(latentsOf(grid, bits: 3)), grid)
    }

    func testTiledDecodeCoversALargerCanvas() throws {
        let latents = Tensor(shape: [1, 2, 6, 10], data: [Float](repeating: 1, count: 120))
        var calls: [[Int]] = []
        let (frames, states) = try decodeTiled({ (tile: Tensor, state: Int?) in
            calls.append(tile.shape)
            let shape = [1, 3, tile.shape[2] * 8, tile.shape[3] * 8]
            return (Tensor(shape: shape, data: [Float](repeating: 0.25, count: shape.reduce(1, *))), (state ?? 0) + 1)
        }, latents: latents, states: nil, tile: (6, 6), spatial: 8)
        XCTAssertEqual(frames.shape, [1, 3, 48, 80])
        XCTAssertEqual(calls.count, 3)                       // x starts 0, 2 and 4
        for v in frames.data { XCTAssertEqual(v, 0.25, accuracy: 1e-6) }
        XCTAssertEqual(Array(states.values), [1, 1, 1])
    }

    func testExtensionLeavesOutTheSourcePadding() {
        // 15 source frames take 5 latent frames: 1 + 4 groups of 4 = 17 positions, the last 2 repeats
        XCTAssertEqual(paddedFrames(latentFrames: 5, group: 4), 17)
        let kept = (0..<25).filter { keepsFrame($0, real: 15, padded: 17) }
        XCTAssertEqual(kept, Array(0..<15) + Array(17..<25))
        XCTAssertEqual(kept.count, 23)                       // 15 source frames + 8 new ones
    }
}
