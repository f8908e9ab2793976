import TokenreelCore
import XCTest

/// The fake transformer of tests/edit_cases.py (the Kotlin port's tests have it too): logits that depend on
/// position and on the sub-tokens, integers / 8, so exact in float32.
final class FakeTransformer: TransformerBackend {
    let window: WindowSize
    let bits: Int, splits: Int, subBits: Int
    var maskId: Int { 1 << subBits }
    var calls = 0

    init(_ b: JSONValue) {
        let w = b["window"]!.ints
        window = WindowSize(t: w[0], h: w[1], w: w[2])
        (bits, splits, subBits) = (b["bits"]!.intValue!, b["splits"]!.intValue!, b["sub_bits"]!.intValue!)
    }

    /// logits[j][n][v] = ((n*131 + v*71 + j*37 + sub[j][n]*13 + sub[j][(n+1) % N]*7) % 97) / 8 - 6
    func logits(_ sub: [Int64]) throws -> [Float] {
        calls += 1
        let n = sub.count / splits, v = 1 << subBits
        var out = [Float](repeating: 0, count: splits * n * v)
        for j in 0..<splits {
            for k in 0..<n {
                for c in 0..<v {
                    let z = Int64(k * 131 + c * 71 + j * 37) + sub[j * n + k] * 13 + sub[j * n + (k + 1) % n] * 7
                    out[(j * n + k) * v + c] = Float(Double(z % 97) / 8.0 - 6.0)
                }
            }
        }
        return out
    }
}

/// tests/edit_cases.py's fake_encoder_step: channel c of a latent position is the sum of its 2x2 pixel block's
/// channel c over the frames, as the integers they came from (rint((x + 1) * 127.5)), less 127.5 a value, plus
/// ((3y + 5x + c + calls) % 7 - 3) * 16 by its place in the frames given and the calls before (the state).
func fakeEncoderStep(_ frames: Tensor, _ state: Int?) -> (Tensor, Int) {
    let calls = state ?? 0
    let (F, C, PH, PW) = (frames.shape[0], frames.shape[1], frames.shape[2], frames.shape[3])
    let (h, w) = (PH / 2, PW / 2)
    var out = [Float](repeating: 0, count: C * h * w)
    for c in 0..<C { for y in 0..<h { for x in 0..<w {
        var sum: Float = 0
        for k in 0..<F { for dy in 0..<2 { for dx in 0..<2 {
            let v = frames.data[((k * C + c) * PH + 2 * y + dy) * PW + 2 * x + dx]
            sum += ((v + 1) * 127.5).rounded(.toNearestOrEven)
        } } }
        let place = (((3 * y + 5 * x + c + calls) % 7) - 3) * 16
        out[(c * h + y) * w + x] = sum - 127.5 * Float(F * 4) + Float(place)
    } } }
    return (Tensor(shape: [1, C, h, w], data: out), calls + 1)
}

/// tests/edit_cases.py's fake_decoder_step: each latent position becomes a 2x2 block of the latent
/// channels' weighted sum, plus terms of the channel and the pixel's place in the tile, less 0.5 per
/// earlier call (the state).
func fakeDecoderStep(_ latents: Tensor, _ state: Int?) -> (Tensor, Int) {
    let calls = state ?? 0
    let (T, D, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
    var out = [Float](repeating: 0, count: T * 3 * 4 * h * w)
    for t in 0..<T { for c in 0..<3 { for y in 0..<(2 * h) { for x in 0..<(2 * w) {
        var base: Float = 0
        for d in 0..<D { base += latents.data[((t * D + d) * h + y / 2) * w + x / 2] * Float(d + 1) }
        out[((t * 3 + c) * 2 * h + y) * 2 * w + x] =
            base + Float(c) * 0.25 + Float(y) * 0.125 + Float(x) * 0.0625 - Float(calls) * 0.5
    } } } }
    return (Tensor(shape: [T, 3, 2 * h, 2 * w], data: out), calls + 1)
}

/// tests/edit_cases.py's FakeTokenizer with its decoder, for the hold: `fakeDecoderStep`'s frames / 8, each latent
/// frame's given to its frames (the first call's first latent frame 1, every other one a group), plus
/// 3k/128 by the frame's place k in the call (the Kotlin port's HoldTokenizer is the same).
final class HoldTokenizer: TokenizerBackend {
    let tokenizerId = "hold", tokenizerSHA256 = "02"
    let bits = 3, spatial = 2, group = 4
    let latentsPerCall: Int

    init(latentsPerCall: Int) { self.latentsPerCall = latentsPerCall }

    func encodeStep(_ frames: Tensor, state: Int?) throws -> (Tensor, Int) { fakeEncoderStep(frames, state) }

    func decodeStep(_ latents: Tensor, state: Int?) throws -> (Tensor, Int) {
        let first = state == nil
        let (step, next) = fakeDecoderStep(latents, state)
        let (t, ph, pw) = (step.shape[0], step.shape[2], step.shape[3])
        let n = first ? 1 + (t - 1) * group : t * group, size = 3 * ph * pw
        var out = [Float](repeating: 0, count: n * size)
        for k in 0..<n {
            let latent = first ? (k + group - 1) / group : k / group
            for i in 0..<size { out[k * size + i] = step.data[latent * size + i] * 0.125 + Float(k) * 0.0234375 }   // 1/8, 3/128
        }
        return (Tensor(shape: [n, 3, ph, pw], data: out), next)
    }
}

/// tests/edit_cases.py's FakeTokenizer: `fakeEncoderStep`, 3 bits, 2 pixels a token; `frameSize`: an encoder exported
/// for that size (it refuses others). Its decoder (not Python's: for Clip tests) gives each pixel the channels of the
/// token to its right, halved, plus a term by place, so that decoded frames differ from the source's and replicating
/// them differs from mirroring tokens (the Kotlin port's DraftTokenizer is the same).
final class DraftTokenizer: TokenizerBackend {
    let tokenizerId = "draft", tokenizerSHA256 = "01"
    let bits = 3, spatial = 2, group = 4, latentsPerCall = 1
    let frameSize: (width: Int, height: Int)?

    init(frameSize: (width: Int, height: Int)? = nil) { self.frameSize = frameSize }

    func encodeStep(_ frames: Tensor, state: Int?) throws -> (Tensor, Int) {
        if let size = frameSize, frames.shape[3] != size.width || frames.shape[2] != size.height {
            throw TokenreelError("frames of \(frames.shape[3])x\(frames.shape[2]), the encoder takes \(size)")
        }
        return fakeEncoderStep(frames, state)
    }

    func decodeStep(_ latents: Tensor, state: String?) throws -> (Tensor, String) {
        let (t, d, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        let n = state == nil ? 1 + (t - 1) * group : t * group
        var out = [Float](repeating: 0, count: n * 3 * 4 * h * w)
        for k in 0..<n { for c in 0..<3 { for y in 0..<(2 * h) { for x in 0..<(2 * w) {
            let right = min(w - 1, x / 2 + 1)
            let latent = latents.data[(((state == nil ? 0 : k / group) * d + c % d) * h + y / 2) * w + right]
            out[((k * 3 + c) * 2 * h + y) * 2 * w + x] = latent * 0.5 + Float((y + 2 * x + k) % 5 - 2) * 0.2
        } } } }
        return (Tensor(shape: [n, 3, 2 * h, 2 * w], data: out), "decoding")
    }
}

/// tests/edit_cases.py's cases (TOKENREEL_EDIT_CASES): the Python runtime's tiling, crop, reframe and extend
/// on the fake transformer, and its tiled decode on a fake decoder step. The same windows in the same order
/// with the same seeds must give the same grids, and the same blend the same float bits.
final class EditGoldenTests: XCTestCase {
    func testTileStarts() throws {
        for c in try Golden.editCases()["tile_starts"]!.arrayValue! {
            XCTAssertEqual(tileStarts(c["length"]!.intValue!, c["size"]!.intValue!, minOverlap: c["min_overlap"]!.intValue!),
                           c["starts"]!.ints, "\(c)")
        }
    }

    func testCropAndOutpaintCanvas() throws {
        for c in try Golden.editCases()["crop"]!.arrayValue! {
            let aspect = c["aspect"]!.stringValue!
            XCTAssertEqual(try reframeCrop(c["in"]!.flatGrid, aspect: aspect), c["out"]!.flatGrid, aspect)
            let (canvas, known) = try outpaintCanvas(c["in"]!.flatGrid, aspect: aspect)
            XCTAssertEqual(canvas, c["canvas"]!.flatGrid, aspect)
            XCTAssertEqual(known.data, c["canvas_known"]!.bools, aspect)
            let source = c["in"]!.flatGrid, box = try outpaintBox(height: source.h, width: source.w, aspect: aspect)
            XCTAssertEqual([box.h, box.w, box.y0, box.x0], c["box"]!.ints, aspect)
        }
    }

    func testReframeOutpaint() throws {
        let cases = try Golden.editCases()
        for c in cases["reframe"]!.arrayValue! {
            let b = FakeTransformer(cases["backend"]!)
            var progress = 0
            let (aspect, seed, sampler) = (c["aspect"]!.stringValue!, Int64(c["seed"]!.intValue!), try c.sampler())
            let draft = c["draft"]?.flatGrid
            let (out, calls) = try reframeOutpaint(b, c["in"]!.flatGrid, aspect: aspect, steps: c["steps"]?.intValue,
                                                   seed: seed, progress: { progress += $0 }, sampler: sampler, draft: draft)
            XCTAssertEqual(out, c["out"]!.flatGrid, "reframe \(aspect) seed \(seed) \(sampler)\(draft == nil ? "" : " with a draft")")
            XCTAssertEqual(calls, c["calls"]!.intValue!)
            XCTAssertEqual(progress, b.calls)
        }
    }

    func testReframeChecksTheDraftsShape() throws {
        let cases = try Golden.editCases()
        let c = try XCTUnwrap(cases["reframe"]!.arrayValue!.first { $0["draft"] != nil })
        let d = c["draft"]!.flatGrid
        XCTAssertThrowsError(try reframeOutpaint(FakeTransformer(cases["backend"]!), c["in"]!.flatGrid,
                                                 aspect: c["aspect"]!.stringValue!,
                                                 draft: d.slice(0..<d.t, 0..<(d.h - 1), 0..<d.w))) {
            XCTAssertTrue("\($0)".contains("draft"), "\($0)")
        }
    }

    /// tiles.py's _owners and encode_tiled on edit_cases.py's fake encoder step, twice in a row: the same float bits.
    func testEncodeTiled() throws {
        let c = try Golden.editCases()["encode_tiled"]!
        for o in c["owners"]!.arrayValue! {
            let (n, size) = (o["length"]!.intValue!, o["size"]!.intValue!)
            XCTAssertEqual(owners(n, size).map { [$0.start, $0.lo, $0.hi] }, o["spans"]!.arrayValue!.map(\.ints),
                           "owners of \(n) by \(size)")
        }
        let tile = c["tile"]!.ints, spatial = c["spatial"]!.intValue!, frames = c["frames"]!.arrayValue!.map(\.floatBits)
        let (first, states) = try encodeTiled(fakeEncoderStep, frames: frames[0], states: nil, tile: (tile[0], tile[1]),
                                              spatial: spatial)
        let (second, after) = try encodeTiled(fakeEncoderStep, frames: frames[1], states: states,
                                              tile: (tile[0], tile[1]), spatial: spatial)
        assertTiled(c, [first, second], after, "latent")
    }

    /// edit.py's outpaint_pixel_draft on FakeTokenizer: whole, exported for a smaller frame (tiles), a larger one (cut).
    func testOutpaintPixelDraft() throws {
        let cases = try Golden.editCases()["outpaint_pixel_draft"]!.arrayValue!
        for c in cases {
            let size = c["frame_size"]!.arrayValue.map { $0.map(\.intValue!) }.map { (width: $0[0], height: $0[1]) }
            var rest = c["frames"]!.frames.makeIterator()
            let draft = try outpaintPixelDraft(DraftTokenizer(frameSize: size), frames: { rest.next() }, grid: c["grid"]!.ints,
                                               aspect: c["aspect"]!.stringValue!)
            XCTAssertEqual(draft, c["out"]!.flatGrid, "pixel draft \(c["aspect"]!.stringValue!) of \(c["grid"]!.ints), frame size \(String(describing: size))")
        }
        let c = cases[0], grid = c["grid"]!.ints
        var rest = c["frames"]!.frames.makeIterator()
        XCTAssertThrowsError(try outpaintPixelDraft(DraftTokenizer(), frames: { rest.next() }, grid: [grid[0] + 1, grid[1], grid[2]],
                                                    aspect: c["aspect"]!.stringValue!)) {
            XCTAssertTrue("\($0)".contains("latent frames"), "\($0)")
        }
    }

    /// tokenizing.py's held_positions: one token changed in the middle, at a corner, all equal, all different.
    func testHeldPositions() throws {
        for c in try Golden.editCases()["held_positions"]!.arrayValue! {
            let radius = c["radius"]!.intValue!
            XCTAssertEqual(heldPositions(c["tokens"]!.flatGrid, c["prev"]!.flatGrid, radius: radius), c["held"]!.bools,
                           "held positions at radius \(radius) of \(c["tokens"]!.flatGrid)")
        }
    }

    /// tokenizing.py's decode_tokens on FakeTokenizer's decoder, hold on (the default) and off: the same bytes.
    func testDecodeTokensHoldsStill() throws {
        for c in try Golden.editCases()["decode_tokens"]!.arrayValue! {
            let b = HoldTokenizer(latentsPerCall: c["latents_per_call"]!.intValue!)
            let tokens = c["tokens"]!.flatGrid, limit = c["frames"]?.intValue
            for (key, hold) in [("hold", true), ("free", false)] {
                var got: [[UInt8]] = []
                if hold {
                    try decodeTokens(b, tokens, frames: limit) { got.append($0.rgb) }
                } else {
                    try decodeTokens(b, tokens, frames: limit, hold: false) { got.append($0.rgb) }
                }
                let want = c[key]!.frames.map(\.rgb)
                XCTAssertEqual(got.count, want.count, "decode_tokens \(key), \(b.latentsPerCall) latent frames a call")
                for (i, (g, w)) in zip(got, want).enumerated() {
                    let differ = zip(g, w).filter { $0 != $1 }.count
                    XCTAssertEqual(differ, 0, "decode_tokens \(key), \(b.latentsPerCall) latent frames a call, frame \(i): bytes differ")
                }
            }
        }
    }

    func testExtend() throws {
        let cases = try Golden.editCases()
        for c in cases["extend"]!.arrayValue! {
            let (frames, seed, sampler) = (c["frames"]!.intValue!, Int64(c["seed"]!.intValue!), try c.sampler())
            let (out, calls) = try extend(FakeTransformer(cases["backend"]!), c["in"]!.flatGrid, frames: frames,
                                          steps: c["steps"]?.intValue, seed: seed, sampler: sampler)
            XCTAssertEqual(out, c["out"]!.flatGrid, "extend \(frames) seed \(seed) \(sampler)")
            XCTAssertEqual(calls, c["calls"]!.intValue!)
        }
    }

    /// Each edit has a case with the sampler's default steps (a null "steps").
    func testDefaultStepsAreCovered() throws {
        let cases = try Golden.editCases()
        for kind in ["reframe", "extend"] {
            XCTAssertTrue(cases[kind]!.arrayValue!.contains { $0["steps"] == .null }, kind)
        }
    }

    /// edit.py's DEFAULT_STEPS and REVISE_THRESHOLD (a threshold per edit).
    func testDefaultsAsPython() throws {
        let d = try Golden.editCases()["defaults"]!
        let steps = d["steps"]!.objectValue!
        XCTAssertEqual(Set(steps.keys), Set(EditSampler.allCases.map(\.rawValue)))
        for s in EditSampler.allCases { XCTAssertEqual(s.defaultSteps, steps[s.rawValue]!.intValue!, s.rawValue) }
        let threshold = d["revise_threshold"]!.objectValue!
        XCTAssertEqual(Set(threshold.keys), ["reframe", "extend"])
        XCTAssertEqual(reviseThreshold.reframe, threshold["reframe"]!.doubleValue!)
        XCTAssertEqual(reviseThreshold.extend, threshold["extend"]!.doubleValue!)
    }

    /// One window revised at each edit's threshold (the grids differ: some drafted token scores between them).
    func testFillAtEachThreshold() throws {
        let cases = try Golden.editCases()
        let fills = cases["fill"]!.arrayValue!
        XCTAssertEqual(Set(fills.map { $0["edit"]!.stringValue! }), ["reframe", "extend"])
        for c in fills {
            let b = FakeTransformer(cases["backend"]!)
            let edit = c["edit"]!.stringValue!, threshold = c["threshold"]!.doubleValue!
            XCTAssertEqual(threshold, edit == "reframe" ? reviseThreshold.reframe : reviseThreshold.extend, edit)
            let tokens = c["tokens"]!.flatGrid
            let known = KnownGrid(t: tokens.t, h: tokens.h, w: tokens.w, data: c["known"]!.bools)
            let (out, calls) = try fill(b, tokens, known, steps: c["steps"]!.intValue!, seed: Int64(c["seed"]!.intValue!),
                                        draft: c["draft"]!.flatGrid, threshold: threshold)
            XCTAssertEqual(out, c["out"]!.flatGrid, "fill at \(edit)'s threshold \(threshold)")
            XCTAssertEqual(calls, c["calls"]!.intValue!)
            XCTAssertEqual(calls, b.calls)
        }
        let c = fills[0], tokens = c["tokens"]!.flatGrid
        let known = KnownGrid(t: tokens.t, h: tokens.h, w: tokens.w, data: c["known"]!.bools)
        XCTAssertThrowsError(try fill(FakeTransformer(cases["backend"]!), tokens, known, steps: 2, seed: 0,
                                      draft: c["draft"]!.flatGrid), "a draft without a threshold")
    }

    /// A tiles case's two calls: their float bits exactly, and the per-tile states (call counts) after them.
    func assertTiled(_ c: JSONValue, _ outs: [Tensor], _ states: [TileCorner: Int], _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        for (got, want) in zip(outs, c["out"]!.arrayValue!.map(\.floatBits)) {
            XCTAssertEqual(got.shape, want.shape, file: file, line: line)
            let differ = zip(got.data, want.data).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differ, 0, "\(differ) of \(want.count) \(what) values differ", file: file, line: line)
        }
        var expected: [TileCorner: Int] = [:]
        for s in c["states"]!.arrayValue! { expected[TileCorner(y: s["y"]!.intValue!, x: s["x"]!.intValue!)] = s["calls"]!.intValue! }
        XCTAssertEqual(states, expected, file: file, line: line)
    }

    func testDecodeTiled() throws {
        let c = try Golden.editCases()["tiles"]!
        let latents = c["latents"]!.floatBits, tile = c["tile"]!.ints, spatial = c["spatial"]!.intValue!
        let (first, states) = try decodeTiled(fakeDecoderStep, latents: latents, states: nil, tile: (tile[0], tile[1]),
                                              spatial: spatial)
        let negated = Tensor(shape: latents.shape, data: latents.data.map { -$0 })
        let (second, after) = try decodeTiled(fakeDecoderStep, latents: negated, states: states,
                                              tile: (tile[0], tile[1]), spatial: spatial)
        assertTiled(c, [first, second], after, "blended")
    }

    func testMirrorDraftAsNumpySymmetricPad() {
        // np.pad([[0, 1, 2]], ((1, 2), (7, 4)), mode="symmetric"): every row the same, reflections repeat
        let source = TokenGrid(t: 1, h: 1, w: 3, data: [0, 1, 2])
        let d = mirrorDraft(canvasH: 4, canvasW: 14, source, y0: 1, x0: 7)
        XCTAssertEqual(Array(d.data[0..<14]), [0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0])
        XCTAssertEqual(Array(d.data[14..<28]), Array(d.data[0..<14]))
    }

    func testErrors() throws {
        XCTAssertThrowsError(try parseAspect("9x16"))
        let b = FakeTransformer(try Golden.editCases()["backend"]!)
        XCTAssertThrowsError(try extend(b, TokenGrid(t: 3, h: 6, w: 6, repeating: 0), frames: 4, steps: -1))
        XCTAssertThrowsError(try extend(b, TokenGrid(t: 1, h: 6, w: 6, repeating: 0), frames: 4))
        XCTAssertThrowsError(try extend(b, TokenGrid(t: 3, h: 6, w: 6, repeating: 0), frames: 0))
    }

    func testSeedsWrapLikePythonInts() {
        // Python: Generator(seed*1000003 + ...) masks an unbounded int to 64 bits; Int64 wrapping is the same
        let big: Int64 = 9_000_000_000_000_000_000
        let wrapped = big &* 1_000_003 &+ 4099
        let python = (UInt64(bitPattern: big) &* 1_000_003) &+ 4099
        XCTAssertEqual(Generator(seed: wrapped).key, python)
    }
}

extension JSONValue {
    /// {"shape": [F, H, W, 3], "data": bytes} (tests/edit_cases.py's pixels) as frames.
    var frames: [Frame] {
        let shape = self["shape"]!.ints, data = self["data"]!.ints.map { UInt8($0) }
        let n = shape[1] * shape[2] * 3
        return (0..<shape[0]).map { Frame(width: shape[2], height: shape[1], rgb: Array(data[($0 * n)..<(($0 + 1) * n)])) }
    }

    /// A case's "sampler" (revise when absent, edit.py's default).
    func sampler() throws -> EditSampler {
        let name = self["sampler"]?.stringValue ?? "revise"
        guard let s = EditSampler(rawValue: name) else { throw TokenreelError("unknown sampler \(name)") }
        return s
    }
}
