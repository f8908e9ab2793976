import Foundation
import TokenreelCore
import XCTest

/// Clip as the Python API's (the Kotlin port's ClipTest has the same): crop, trim and cat give the tokens,
/// header, name and errors of tests/golden/clip-cases.json (tests/clip_cases.py); save and load round trip;
/// encode, reframe, extend and frames run the fake tokenizer and transformer through the core's functions.
final class ClipTests: XCTestCase {
    func cases() throws -> JSONValue { try Golden.json("clip-cases.json") }

    /// A source of the cases: its file read, `frames` set where given, named by its key.
    func source(_ key: String) throws -> Clip {
        let s = try cases()["sources"]![key]!
        let clip = try Clip.load(Golden.dir.appendingPathComponent(s["file"]!.stringValue!))
        var header = clip.header
        if let frames = s["frames"] { header["frames"] = frames }
        return try Clip(tokens: clip.tokens, header: header, name: key)
    }

    func apply(_ key: String, _ steps: JSONValue) throws -> Clip {
        var clip = try source(key)
        for step in steps.arrayValue! {
            switch step["op"]!.stringValue! {
            case "crop": clip = try clip.crop(left: step["left"]?.intValue ?? 0, top: step["top"]?.intValue ?? 0,
                                              width: step["width"]?.intValue, height: step["height"]?.intValue)
            case "trim": clip = try clip.trim(start: step["start"]?.doubleValue ?? 0, end: step["end"]?.doubleValue)
            case "cat": clip = try clip.cat(step["clips"]!.arrayValue!.map { try apply($0.arrayValue![0].stringValue!, $0.arrayValue![1]) })
            case let op: throw TokenreelError("unknown op \(op)")
            }
        }
        return clip
    }

    func message(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch { return (error as? TokenreelError)?.message ?? "\(error)" }
    }

    func testCropTrimAndCatAsPython() throws {
        for c in try cases()["cases"]!.arrayValue! {
            let what = c["case"]!.stringValue!, run = { try self.apply(c["source"]!.stringValue!, c["steps"]!) }
            if let error = c["error"] {
                XCTAssertEqual(message(run), error.stringValue, what)
                continue
            }
            let clip = try run()
            XCTAssertEqual(clip.tokens, c["tokens"]!.flatGrid, what)
            XCTAssertEqual(clip.header, c["header"]!.objectValue!, what)
            XCTAssertEqual(clip.name, c["name"]!.stringValue!, what)
        }
        XCTAssertEqual(message { try cat() }, "cat: give at least one clip")
        let golden = try source("golden")
        var header = golden.header
        header["fps"] = .double(30)
        let faster = try Clip(tokens: golden.tokens, header: header, name: "faster")
        XCTAssertEqual(message { try cat(golden, faster) },
                       "cat: clip 2 (faster) runs at 30 fps, clip 1 (golden) at 25; concatenate clips of one frame rate")
        XCTAssertEqual(try cat(golden).tokens, golden.tokens)
    }

    func testSavesAndLoads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenreel-clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("again.trl")
        for clip in [try Clip.load(Golden.dir.appendingPathComponent("tokens-v2.trl")),
                     try source("padded").trim(start: 0.2).crop(left: 8)] {
            XCTAssertGreaterThan(try clip.save(url), 0)
            let back = try Clip.load(url)
            XCTAssertEqual(back.tokens, clip.tokens)
            XCTAssertEqual(back.header, clip.header)
            XCTAssertEqual(back.name, url.path)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["again.trl"])
    }

    func testRefusesWhatPythonRefuses() throws {
        let file = Golden.dir.appendingPathComponent("tokens-v2.trl")
        let clip = try Clip.load(file)
        XCTAssertEqual(message { try Clip(tokens: TokenGrid(t: 0, h: 6, w: 8, repeating: 0), header: clip.header, name: "empty") },
                       "empty: tokens must be a non-empty (T, H, W) grid, not (0, 6, 8)")
        XCTAssertTrue(message { try clip.reframe("9:16") }?.contains("no models to run") == true)
        XCTAssertTrue(message { try clip.frames { _ in } }?.contains("no models to run") == true)
        XCTAssertEqual(message { try clip.reframe("9:16", fit: "fill") }, "fit 'fill': choose one of outpaint, crop")
        XCTAssertEqual(message { try clip.extend() }, "extend: give seconds or frames (one of them)")
        XCTAssertEqual(message { try Editor(tokenizer: FakeTokenizer()).load(file) },
                       "\(file.path): made by tokenizer golden (000000000000), not the loaded fake (00); decode it with "
                       + "the weights that made it or re-encode the source video")
        // a crop to an aspect needs no model
        XCTAssertEqual(try clip.reframe("1:1", fit: "crop").tokens, try reframeCrop(clip.tokens, aspect: "1:1"))
    }

    func pictures(_ n: Int, width: Int = 16, height: Int = 8) -> [Frame] {
        (0..<n).map { i in Frame(width: width, height: height, rgb: (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: i * 10 + $0) }) }
    }

    func encode(_ editor: Editor, _ frames: [Frame], sourceSize: (width: Int, height: Int)? = nil, resize: String = "none",
                name: String = "clip") throws -> Clip {
        var rest = frames.makeIterator()
        return try editor.encode(next: { rest.next() }, fps: 25, sourceSize: sourceSize, resize: resize, name: name)
    }

    func decoded(_ tokenizer: FakeTokenizer, _ tokens: TokenGrid, _ frames: Int) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try decodeTokens(tokenizer, tokens, frames: frames) { out.append($0.rgb) }
        return out
    }

    func rendered(_ clip: Clip, keepSource: Bool = true) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try clip.frames(keepSource: keepSource) { out.append($0.rgb) }
        return out
    }

    func testEncodesAndDecodes() throws {
        let tokenizer = FakeTokenizer()
        let clip = try encode(Editor(tokenizer: tokenizer), pictures(10), sourceSize: (32, 16), resize: "short side scaled", name: "ten")
        XCTAssertEqual(clip.grid, [4, 1, 2])
        XCTAssertEqual(clip.header, ["tokenizer": .string("fake"), "tokenizer_sha256": .string("00"), "bits": .int(3),
                                     "fps": .double(25), "frames": .int(10), "size": .array([.int(16), .int(8)]),
                                     "source_size": .array([.int(32), .int(16)]), "resize": .string("short side scaled")])
        XCTAssertEqual(try rendered(clip), try decoded(tokenizer, clip.tokens, 10))
        XCTAssertEqual(try rendered(try clip.trim(start: 0.2)).count, 6)     // from frame 4 to the 10th
        XCTAssertEqual(message { try self.encode(Editor(tokenizer: tokenizer), [], name: "ten") },
                       "ten: contains no decodable video frames")
    }

    func testReframesAndExtendsKeepingTheSource() throws {
        let tokenizer = FakeTokenizer()
        let transformer = FakeTransformer(.object(["window": .array([.int(4), .int(5), .int(5)]), "bits": .int(3),
                                                   "splits": .int(1), "sub_bits": .int(3)]))
        let source = pictures(10, width: 48, height: 40)      // 5 x 6 tokens
        let clip = try encode(Editor(tokenizer: tokenizer, transformer: transformer), source)

        let square = try clip.reframe("1:1", seed: 3)
        var rest = source.makeIterator()
        let draft = try outpaintPixelDraft(tokenizer, frames: { rest.next() }, grid: clip.grid, aspect: "1:1")
        let (canvas, calls) = try reframeOutpaint(transformer, clip.tokens, aspect: "1:1", seed: 3, draft: draft)
        XCTAssertEqual(square.tokens, canvas)
        XCTAssertEqual(square.calls, calls)
        XCTAssertEqual(square.size.width, 48)
        XCTAssertEqual(square.size.height, 48)
        let box = PixelBox(y0: 0, x0: 0, y1: 40, x1: 48), weights = featherWeights(height: 48, width: 48, box: box)
        var kept: [[UInt8]] = [], n = 0
        try decodeTokens(tokenizer, canvas, frames: 10) { kept.append(reframedFrame($0, source: source[n], box: box, weights: weights).rgb); n += 1 }
        XCTAssertEqual(try rendered(square), kept)
        XCTAssertEqual(try rendered(square, keepSource: false), try decoded(tokenizer, canvas, 10))
        // a token edit keeps no source: its reframe decodes every pixel
        let loaded = try Clip(tokens: clip.tokens, header: clip.header, editor: clip.editor)
        XCTAssertEqual(try rendered(try loaded.reframe("1:1", seed: 3)), try decoded(tokenizer, canvas, 10))

        let longer = try clip.extend(frames: 6, seed: 1)
        XCTAssertEqual(longer.tokens, try extend(transformer, clip.tokens, frames: 6, seed: 1).0)
        XCTAssertEqual(longer.frameCount, 13 + 6)      // the source's 13 positions (3 repeats fill its last group), 6 more
        let frames = try rendered(longer)
        XCTAssertEqual(frames.count, 16)               // the source's 10 frames, then the 6 generated
        XCTAssertEqual(Array(frames.prefix(10)), source.map(\.rgb))
        let all = try decoded(tokenizer, longer.tokens, 19)
        XCTAssertEqual(try rendered(longer, keepSource: false), Array(all.prefix(10) + all.suffix(6)))
        XCTAssertEqual(try clip.extend(seconds: 0.2).frameCount, 13 + 5)     // 0.2 s at 25 fps
    }

    /// Clip.reframe's revise draft (api.py `Clip._outpaint_draft`): the source's own pixels edge-replicated and encoded, a
    /// loaded clip's decoded ones, over tiles on an encoder exported for the clip's size, and the source's tokens
    /// mirrored where the export is larger than the clip (it cannot be decoded); MaskGIT takes no draft.
    func testReframeDraftsFromPixels() throws {
        let transformer = FakeTransformer(.object(["window": .array([.int(2), .int(6), .int(6)]), "bits": .int(3),
                                                   "splits": .int(1), "sub_bits": .int(3)]))
        let source = pictures(5, width: 20, height: 12)      // 6 x 10 tokens of DraftTokenizer, 2 latent frames
        let whole = DraftTokenizer()
        let clip = try encode(Editor(tokenizer: whole, transformer: transformer), source)
        func reframed(_ draft: TokenGrid?, _ sampler: EditSampler = .revise) throws -> TokenGrid {
            try reframeOutpaint(transformer, clip.tokens, aspect: "1:1", seed: 2, sampler: sampler, draft: draft).0
        }
        func pixelDraft(_ tokenizer: DraftTokenizer, _ frames: [Frame]) throws -> TokenGrid {
            var rest = frames.makeIterator()
            return try outpaintPixelDraft(tokenizer, frames: { rest.next() }, grid: clip.grid, aspect: "1:1")
        }

        let fromSource = try pixelDraft(whole, source)
        XCTAssertEqual(try clip.reframe("1:1", seed: 2).tokens, try reframed(fromSource))
        var decoded: [Frame] = []
        try decodeTokens(whole, clip.tokens, frames: 5) { decoded.append($0) }
        let fromDecoded = try pixelDraft(whole, decoded)
        let loaded = try Clip(tokens: clip.tokens, header: clip.header, editor: clip.editor)
        XCTAssertEqual(try loaded.reframe("1:1", seed: 2).tokens, try reframed(fromDecoded))

        let exported = DraftTokenizer(frameSize: (20, 12))
        let encoded = try encode(Editor(tokenizer: exported, transformer: transformer), source)
        XCTAssertEqual(encoded.tokens, clip.tokens)       // one tile: the whole frame
        let tiled = try pixelDraft(exported, source)
        XCTAssertEqual(try encoded.reframe("1:1", seed: 2).tokens, try reframed(tiled))

        let mirrored = try outpaintDraft(clip.tokens, aspect: "1:1")
        let larger = try Clip(tokens: clip.tokens, header: clip.header,
                              editor: Editor(tokenizer: DraftTokenizer(frameSize: (24, 12)), transformer: transformer))
        XCTAssertEqual(try larger.reframe("1:1", seed: 2).tokens, try reframed(mirrored))
        XCTAssertEqual(try reframed(mirrored), try reframed(nil))
        // an export of the clip's size drafts as the server does (tiles of the clip's own size on both);
        // the other drafts differ, and so do the reframes they give
        XCTAssertEqual(fromSource, tiled)
        let drafts = [fromSource, fromDecoded, mirrored]
        for i in 0..<3 { for j in 0..<i {
            XCTAssertNotEqual(drafts[i], drafts[j], "drafts \(i) and \(j)")
            XCTAssertNotEqual(try reframed(drafts[i]), try reframed(drafts[j]), "reframes \(i) and \(j)")
        } }
        XCTAssertEqual(try clip.reframe("1:1", seed: 2, sampler: .maskgit).tokens, try reframed(nil, .maskgit))
    }
}
