import Foundation

/// A token clip (tokenreel.Clip, docs/api.md): a grid of tokens (T latent frames x H x W) and its .trl header.
/// Every operation returns a new clip and none decodes: `crop`, `trim` and `cat` copy tokens and need no model,
/// `reframe` and `extend` run the editor's transformer; `save` writes a .trl, `frames` decodes. An encoded clip
/// holds the frames it was made from (`Editor.encode` keeps them), so that its edits' frames keep the source's
/// own pixels; a loaded or token-edited clip has none.
public struct Clip: CustomStringConvertible {
    /// Frames of a clip made by an edit: (tokenizer, keep the source, emit) -> frames emitted.
    typealias Plan = (any TokenizerBackend, Bool, (Frame) throws -> Void) throws -> Int

    public let tokens: TokenGrid
    /// The .trl header less what a file derives from its grid (api.FILE_FIELDS).
    public let header: [String: JSONValue]
    public let editor: Editor?
    /// What it is, for messages ("holiday.trl, trimmed").
    public let name: String
    /// Transformer calls the edit made.
    public let calls: Int
    let source: [Frame]?
    let plan: Plan?

    public static let pixelsPerToken = 8     // docs/trl-format.md: a header's size is (8 W, 8 H) for a grid (T, H, W)
    public static let framesPerLatent = 4    // the first latent frame holds one frame, every later one the next four
    public static let fits = ["outpaint", "crop"]
    /// Header fields a .trl derives from its grid (what Trl.read adds), not kept with a clip; frames is the clip's.
    static let fileFields = Trl.fileFields.filter { $0 != "frames" }

    init(tokens: TokenGrid, header: [String: JSONValue], editor: Editor?, name: String, source: [Frame]? = nil,
         calls: Int = 0, plan: Plan? = nil) {
        self.tokens = tokens
        self.header = header.filter { !Self.fileFields.contains($0.key) }
        (self.editor, self.name, self.source, self.calls, self.plan) = (editor, name, source, calls, plan)
    }

    public init(tokens: TokenGrid, header: [String: JSONValue], editor: Editor? = nil, name: String = "clip") throws {
        guard tokens.t > 0, tokens.h > 0, tokens.w > 0 else {
            throw TokenreelError("\(name): tokens must be a non-empty (T, H, W) grid, not (\(tokens.t), \(tokens.h), \(tokens.w))")
        }
        self.init(tokens: tokens, header: header, editor: editor, name: name, source: nil)
    }

    /// Read a .trl into a Clip (no model). Edits and decoding use `editor`; see `Editor.load`.
    public static func load(_ url: URL, editor: Editor? = nil) throws -> Clip {
        let (tokens, header) = try Trl.read(url, zstd: editor?.zstd)
        return try Clip(tokens: tokens, header: header, editor: editor, name: url.path)
    }

    /// [T, H, W]: latent frames, token rows, token columns.
    public var grid: [Int] { tokens.shape }
    public var frameCount: Int { header["frames"]?.intValue ?? 0 }
    public var fps: Double { header["fps"]?.doubleValue ?? 0 }
    public var size: (width: Int, height: Int) {
        let s = header["size"]?.arrayValue?.compactMap(\.intValue) ?? []
        return (s.first ?? 0, s.last ?? 0)
    }
    public var seconds: Double { Double(frameCount) / fps }

    public var description: String {
        "Clip(\(name): \(tokens.t)x\(tokens.h)x\(tokens.w) tokens, \(frameCount) frames at \(size.width)x\(size.height), "
            + "\(formatG(fps)) fps)"
    }

    /// A clip made from this one by the edit `what`: the same header but for the grid's size and `frames`.
    func derived(_ edited: TokenGrid, _ what: String, frames: Int? = nil, calls: Int = 0, plan: Plan? = nil) -> Clip {
        var header = header
        header["size"] = .array([.int(Int64(edited.w * Self.pixelsPerToken)), .int(Int64(edited.h * Self.pixelsPerToken))])
        header["frames"] = .int(Int64(frames ?? frameCount))
        return Clip(tokens: edited, header: header, editor: editor, name: "\(name), \(what)", calls: calls, plan: plan)
    }

    /// The editor that runs this clip's models, once it is known to hold its tokenizer's tokens.
    func models() throws -> Editor {
        guard let editor else {
            throw TokenreelError("\(name): no models to run; load the clip with Editor.load or give Clip.load an editor")
        }
        try editor.checkTokenizer(self)
        return editor
    }

    // MARK: no model

    /// Write a .trl atomically -> bytes written. `coder`: "zstd", "ans-ctx" or nil (the smaller).
    @discardableResult
    public func save(_ url: URL, coder: String? = nil) throws -> Int {
        try Trl.write(url, tokens, meta: header, coder: coder, zstd: editor?.zstd)
    }

    /// Crop to a box in pixels (default: to the right and bottom edges), at token boundaries: each side is rounded
    /// to the nearest multiple of `pixelsPerToken`. Lossless in token space.
    public func crop(left: Int = 0, top: Int = 0, width: Int? = nil, height: Int? = nil) throws -> Clip {
        let (w, h) = size, p = Self.pixelsPerToken
        let boxW = width ?? w - left, boxH = height ?? h - top
        let x0 = nearest(left, p), y0 = nearest(top, p), x1 = nearest(left + boxW, p), y1 = nearest(top + boxH, p)
        guard 0 <= x0, x0 < x1, x1 <= tokens.w, 0 <= y0, y0 < y1, y1 <= tokens.h else {
            throw TokenreelError("crop: the box \(boxW)x\(boxH) at (\(left), \(top)) px is not inside the \(w)x\(h) px "
                                 + "frame, or narrower than a token (\(p) px)")
        }
        return derived(tokens.slice(0..<tokens.t, y0..<y1, x0..<x1), "cropped")
    }

    /// Keep the part from `start` to `end` seconds (nil: to the end), cut at latent-frame boundaries: from the
    /// frame 4k nearest to `start` to after the frame 4k nearest to `end` (Clip.trim).
    public func trim(start: Double = 0, end: Double? = nil) throws -> Clip {
        let T = tokens.t, k = Self.framesPerLatent
        func frame(_ seconds: Double) -> Int { Int((seconds * fps).rounded(.toNearestOrEven)) }   // Python's round()
        let s = nearest(frame(start), k)
        let e = end.map { min(T - 1, nearest(frame($0) - 1, k)) } ?? T - 1
        guard start >= 0, s <= T - 1, e >= s else {
            throw TokenreelError("trim: \(formatG(start)) s to \(end.map { "\(formatG($0)) s" } ?? "the end") keeps no latent frame of "
                                 + "the \(String(format: "%.2f", seconds)) s clip (it cuts at every \(k) frames, "
                                 + "\(String(format: "%.3f", Double(k) / fps)) s)")
        }
        return derived(tokens.slice(s..<(e + 1), 0..<tokens.h, 0..<tokens.w), "trimmed",
                       frames: max(1, min(frameCount, k * e + 1) - k * s))
    }

    /// This clip, then `others`, at latent-frame boundaries (no model); all of one tokenizer, size and fps. Each
    /// later clip's first latent frame becomes a group of four, and an earlier clip's padding frames stay in.
    public func cat(_ others: Clip...) throws -> Clip { try cat(others) }

    public func cat(_ others: [Clip]) throws -> Clip {
        func text(_ c: Clip) -> [(String, String)] {
            [("tokenizer", c.header["tokenizer_sha256"]?.stringValue ?? ""), ("bits", "\(c.header["bits"]?.intValue ?? 0)"),
             ("size", "\(c.size.width)x\(c.size.height)")]
        }
        for (i, c) in others.enumerated() {
            for ((what, mine), (_, theirs)) in zip(text(self), text(c)) where mine != theirs {
                throw TokenreelError("cat: clip \(i + 2) (\(c.name)) has \(what) \(theirs), clip 1 (\(name)) \(mine); "
                                     + "concatenate clips of one tokenizer and size")
            }
            if abs(c.fps - fps) > 1e-6 * max(abs(c.fps), abs(fps)) {     // math.isclose
                throw TokenreelError("cat: clip \(i + 2) (\(c.name)) runs at \(formatG(c.fps)) fps, clip 1 (\(name)) at "
                                     + "\(formatG(fps)); concatenate clips of one frame rate")
            }
        }
        let last = others.last ?? self
        let joined = TokenGrid(t: tokens.t + others.map(\.tokens.t).reduce(0, +), h: tokens.h, w: tokens.w,
                               data: tokens.data + others.flatMap(\.tokens.data))
        let k = Self.framesPerLatent
        let padding = paddedFrames(latentFrames: last.tokens.t, group: k) - last.frameCount   // its repeated last frames
        return derived(joined, "joined", frames: paddedFrames(latentFrames: joined.t, group: k) - padding)
    }

    // MARK: edits with the transformer

    /// Change the aspect ratio W:H ("9:16") in token space. `fit` "outpaint": keep the whole picture and generate
    /// the margins (the transformer; `progress` gets its calls; the revise sampler starts from `outpaintDraft`'s
    /// draft); "crop": centre-crop (no model).
    public func reframe(_ aspect: String, fit: String = "outpaint", seed: Int64 = 0, steps: Int? = nil,
                        sampler: EditSampler = .revise, progress: ((Int) -> Void)? = nil) throws -> Clip {
        _ = try parseAspect(aspect)
        guard Self.fits.contains(fit) else {
            throw TokenreelError("fit '\(fit)': choose one of \(Self.fits.joined(separator: ", "))")
        }
        if fit == "crop" { return derived(try reframeCrop(tokens, aspect: aspect), "cropped to \(aspect)") }
        _ = try checkSteps(sampler, steps)
        let editor = try models()
        let draft = sampler == .revise ? try outpaintDraft(editor.tokenizer, aspect: aspect) : nil
        let (canvas, calls) = try reframeOutpaint(try editor.transformer, tokens, aspect: aspect, steps: steps, seed: seed,
                                                  progress: progress, sampler: sampler, draft: draft)
        return derived(canvas, "reframed \(aspect)", calls: calls) { tokenizer, keepSource, emit in
            try reframedVideo(tokenizer, canvas, source: keepSource ? source : nil, emit: emit)
        }
    }

    /// The reframe's draft: this clip's pixels (the source's own, else decoded), edges replicated into the margins, and encoded
    /// (`outpaintPixelDraft`); the source's tokens mirrored (`outpaintDraft`) where the clip is smaller than an
    /// exported tokenizer's frame size and so cannot be decoded (api.py `Clip._outpaint_draft`).
    func outpaintDraft<B: TokenizerBackend>(_ tokenizer: B, aspect: String) throws -> TokenGrid {
        let s = tokenizer.spatial
        if let fixed = tokenizer.frameSize, tokens.w * s < fixed.width || tokens.h * s < fixed.height {
            return try TokenreelCore.outpaintDraft(tokens, aspect: aspect)
        }
        if let source {
            var rest = source.makeIterator()
            return try outpaintPixelDraft(tokenizer, frames: { rest.next() }, grid: grid, aspect: aspect)
        }
        var decoder = TokenDecoder(tokenizer, tokens, frames: frameCount)
        return try outpaintPixelDraft(tokenizer, frames: { try decoder.next() }, grid: grid, aspect: aspect)
    }

    /// Continue the clip in time by `seconds` (or by `frames` frames) with the transformer.
    public func extend(seconds: Double? = nil, frames: Int? = nil, seed: Int64 = 0, steps: Int? = nil,
                       sampler: EditSampler = .revise, progress: ((Int) -> Void)? = nil) throws -> Clip {
        let added: Int
        switch (seconds, frames) {
        case (let seconds?, nil):
            guard seconds > 0, seconds <= Double(maxExtendFrames) / fps else {
                throw TokenreelError("extend: \(formatG(seconds)) s; choose more than 0 and at most \(formatG(Double(maxExtendFrames) / fps)) s")
            }
            added = max(1, Int((seconds * fps).rounded(.toNearestOrEven)))
        case (nil, let frames?): added = frames
        default: throw TokenreelError("extend: give seconds or frames (one of them)")
        }
        _ = try checkSteps(sampler, steps)
        let editor = try models()
        let group = editor.tokenizer.group
        let (grid, calls) = try TokenreelCore.extend(try editor.transformer, tokens, frames: added, steps: steps, seed: seed,
                                                     group: group, progress: progress, sampler: sampler)
        let padded = paddedFrames(latentFrames: tokens.t, group: group)     // the source's frames, its last group filled
        let draft = extendDraft(tokens, frames: added, group: group)
        return derived(grid, "extended +\(added) frames", frames: padded + added, calls: calls) { tokenizer, keepSource, emit in
            try extendedVideo(tokenizer, grid, padded: padded, total: padded + added, source: keepSource ? source : nil,
                              draft: draft, emit: emit)
        }
    }

    // MARK: pixels

    /// Decode: calls `emit` with each frame, one decoder call at a time -> frames emitted. `keepSource`: where a
    /// reframe or extend of an encoded clip kept the source, its own pixels (the generated part blended in)
    /// instead of decoded ones (Clip.frames). Writing them to a video file is the app's (AVFoundation).
    @discardableResult
    public func frames(keepSource: Bool = true, emit: (Frame) throws -> Void) throws -> Int {
        let tokenizer = try models().tokenizer
        if let plan { return try plan(tokenizer, keepSource, emit) }
        return try decodeTokens(tokenizer, tokens, frames: frameCount, emit: emit)
    }

    /// A reframed canvas decoded, with `source` pasted in where this clip sits and feathered into the margins
    /// (file_ops.reframed_video).
    func reframedVideo(_ tokenizer: any TokenizerBackend, _ canvas: TokenGrid, source: [Frame]?,
                       emit: (Frame) throws -> Void) throws -> Int {
        guard let source else { return try decodeTokens(tokenizer, canvas, frames: frameCount, emit: emit) }
        let s = tokenizer.spatial, y0 = (canvas.h - tokens.h) / 2 * s, x0 = (canvas.w - tokens.w) / 2 * s
        let box = PixelBox(y0: y0, x0: x0, y1: y0 + tokens.h * s, x1: x0 + tokens.w * s)
        let weights = featherWeights(height: canvas.h * s, width: canvas.w * s, box: box)
        var n = 0
        try decodeTokens(tokenizer, canvas, frames: min(frameCount, source.count)) { frame in    // zip's length
            try emit(reframedFrame(frame, source: source[n], box: box, weights: weights))
            n += 1
        }
        return n
    }

    /// An extended grid decoded (file_ops.extended_video): this clip's frames, then the generated ones (positions
    /// [padded, total)); with `source`, its own frames and then its last frame plus the model's change against
    /// `draft`, the two grids decoded in step.
    func extendedVideo<B: TokenizerBackend>(_ tokenizer: B, _ grid: TokenGrid, padded: Int, total: Int, source: [Frame]?,
                                            draft: TokenGrid, emit: (Frame) throws -> Void) throws -> Int {
        var decoded = TokenDecoder(tokenizer, grid, frames: total), n = 0
        guard let source else {
            while let f = try decoded.next() {
                guard keepsFrame(decoded.emitted - 1, real: frameCount, padded: padded) else { continue }
                try emit(f)
                n += 1
            }
            return n
        }
        // the change is taken between the decoder's own frames (no hold), as file_ops.extended_video does
        decoded = TokenDecoder(tokenizer, grid, frames: total, hold: false)
        var drafted = TokenDecoder(tokenizer, draft, frames: total, hold: false)
        for f in source { try emit(f) }
        for _ in 0..<padded { _ = try decoded.next(); _ = try drafted.next() }     // stood for by the source's own frames
        while let g = try decoded.next(), let d = try drafted.next() {
            try emit(extendedFrame(g, draft: d, lastSource: source.last))
            n += 1
        }
        return source.count + n
    }
}

/// Concatenate clips at latent-frame boundaries (no model): tokenreel.cat; see `Clip.cat`.
public func cat(_ clips: Clip...) throws -> Clip {
    guard let first = clips.first else { throw TokenreelError("cat: give at least one clip") }
    return try first.cat(Array(clips.dropFirst()))
}

/// The nearest multiple of `step`, counted in steps; halves round up (api._nearest).
private func nearest(_ value: Int, _ step: Int) -> Int { Int((Double(value) / Double(step) + 0.5).rounded(.down)) }

/// Python's format(x, "g") (C's %g), as the messages show numbers.
private func formatG(_ x: Double) -> String { String(format: "%g", x) }
