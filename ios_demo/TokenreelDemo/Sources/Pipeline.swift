import Foundation
import TokenreelCore
import TokenreelCoreML

/// What the user asked for.
struct EditRequest {
    enum Kind: Equatable {
        case reframe(aspect: String)   // outpaint the margins to the aspect W:H
        case extend(seconds: Int)      // continue in time
    }
    var source: URL
    var kind: Kind
    var precision: String
    var maxFrames: Int
    var steps: Int? = nil         // nil: the sampler's default (revise: 0, the scoring call redoes the draft)
    var seed: Int64 = 0
}

struct EditResult {
    var video: URL
    var trl: URL
    var summary: String
}

/// The transformer as the edits see it: stops when the task is cancelled and counts calls for the
/// progress bar.
struct ObservedTransformer: TransformerBackend {
    let base: CoreMLTransformer
    let onCall: () -> Void
    var window: WindowSize { base.window }
    var bits: Int { base.bits }
    var splits: Int { base.splits }
    var subBits: Int { base.subBits }
    var maskId: Int { base.maskId }

    func logits(_ subTokens: [Int64]) throws -> [Float] {
        try Task.checkCancellation()
        defer { onCall() }
        return try base.logits(subTokens)
    }
}

/// Runs one edit end to end off the main thread: load (and on first use compile) the Core ML models,
/// read the video, and through the core's Editor and Clip encode it, edit in token space and decode it with the
/// source's pixels kept; write H.264. Models stay loaded per precision.
actor Pipeline {
    struct Models { let tokenizer: CoreMLTokenizer; let transformer: CoreMLTransformer }
    private var loaded: [String: Models] = [:]

    /// The export folder bundled as `models/`.
    static var modelsFolder: URL? { Bundle.main.url(forResource: "models", withExtension: nil) }

    static func bundledManifest() throws -> (URL, Manifest) {
        guard let folder = modelsFolder else {
            throw TokenreelError("the app has no models/ folder: export them with `tokenreel export --formats coreml "
                                 + "--precision fp16,int8 -o ios_demo/TokenreelDemo/models`, run xcodegen and build again")
        }
        return (folder, try Manifest.read(folder: folder, verify: false))
    }

    func models(_ precision: String) async throws -> Models {
        if let m = loaded[precision] { return m }
        let (folder, manifest) = try Self.bundledManifest()
        // verify: the three artifacts' sizes and sha256 against the manifest, before compiling them
        let tokenizer = try await CoreMLTokenizer.load(folder: folder, manifest: manifest, precision: precision)
        let transformer = try await CoreMLTransformer.load(folder: folder, manifest: manifest, precision: precision)
        if let sha = transformer.tokenizerSHA256, sha != tokenizer.tokenizerSHA256 {
            throw TokenreelError("the transformer was trained on tokens of tokenizer \(sha.prefix(12)), not the "
                                 + "loaded \(tokenizer.tokenizerSHA256.prefix(12)); re-export both together")
        }
        let m = Models(tokenizer: tokenizer, transformer: transformer)
        loaded[precision] = m
        return m
    }

    /// Upper bound of transformer calls (windows x (1 + steps) for the revise sampler; windows that turn out
    /// fully known are skipped, and a window whose whole draft is kept takes one call).
    static func plannedCalls(_ kind: EditRequest.Kind, t T: Int, h H: Int, w W: Int, window: WindowSize, steps: Int,
                             group: Int, newLatents: Int) -> Int {
        func spatial(_ h: Int, _ w: Int) -> Int { tileStarts(h, window.h).count * tileStarts(w, window.w).count }
        switch kind {
        case .reframe(let aspect):
            guard let canvas = try? outpaintCanvas(TokenGrid(t: T, h: H, w: W, repeating: 0), aspect: aspect).0 else { return 1 }
            let times = T >= window.t ? tileStarts(T, window.t, minOverlap: 1).count : 1
            return times * spatial(max(canvas.h, window.h), max(canvas.w, window.w)) * steps
        case .extend:
            var calls = 0, t = T
            while t < T + newLatents {   // extend()'s loop: one window span per pass
                let t0 = t - 2, span = min(window.t, T + newLatents - t0)
                calls += spatial(H, W) * steps
                t = t0 + span
            }
            return calls
        }
    }

    func run(_ r: EditRequest, progress: @escaping @Sendable (String, Double) -> Void) async throws -> EditResult {
        let clock = ContinuousClock()
        var times: [String] = []
        func timed<T>(_ label: String, _ body: () async throws -> T) async rethrows -> T {
            let start = clock.now
            let v = try await body()
            let d = clock.now - start
            times.append("\(label) \(String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)) s")
            return v
        }

        progress("Loading models (the first run compiles them)", 0)
        let m = try await timed("load") { try await models(r.precision) }
        let tok = m.tokenizer
        let (fw, fh) = tok.exportedSize

        progress("Reading frames", 0.05)
        let video = try await timed("read") { try await VideoIO.readFrames(r.source, width: fw, height: fh, maxFrames: r.maxFrames) }
        let frames = video.frames

        // the core's Editor and Clip (tokenreel.Editor / Clip, docs/api.md); the transformer as the edits see it
        var done = 0, planned = 1
        let editor = Editor(tokenizer: tok, transformer: ObservedTransformer(base: m.transformer) {
            done += 1
            progress("Generating (\(done) of ≤\(planned) transformer calls)", 0.25 + 0.6 * min(1, Double(done) / Double(planned)))
        })

        progress("Encoding", 0.1)
        var fed = 0
        var queue = Array(frames.reversed())
        let stem = r.source.deletingPathExtension().lastPathComponent
        let clip = try await timed("encode") {
            try editor.encode(next: { try Task.checkCancellation(); return queue.popLast() }, fps: video.fps,
                              sourceSize: video.sourceSize, resize: Editor.resizeCover, name: stem, progress: { n in
                fed += n
                progress("Encoding", 0.1 + 0.15 * Double(min(fed, frames.count)) / Double(frames.count))
            })
        }
        let tokens = clip.tokens

        // the source tokens as a .trl, as `tokenreel encode` would write them
        let out = try Self.outputFolder()
        let trlURL = out.appendingPathComponent("\(stem).trl")
        let trlBytes = try clip.save(trlURL)

        // the edit, in token space
        let newFrames: Int, label: String
        switch r.kind {
        case .reframe(let aspect):
            newFrames = 0; label = "reframed-\(aspect.replacingOccurrences(of: ":", with: "x"))"
        case .extend(let seconds):
            newFrames = max(1, Int((Double(seconds) * video.fps).rounded(.toNearestOrEven)))
            label = "extended-\(seconds)s"
        }
        planned = max(1, Self.plannedCalls(r.kind, t: tokens.t, h: tokens.h, w: tokens.w, window: m.transformer.window,
                                           steps: 1 + (r.steps ?? EditSampler.revise.defaultSteps), group: tok.group,
                                           newLatents: latentFramesFor(newFrames, group: tok.group)))
        let edited = try await timed("edit") { () async throws -> Clip in
            switch r.kind {
            case .reframe(let aspect): return try clip.reframe(aspect, seed: r.seed, steps: r.steps)
            case .extend: return try clip.extend(frames: newFrames, seed: r.seed, steps: r.steps)
            }
        }

        // decode, keeping the source's own pixels where it is known (as `tokenreel reframe` / `extend` render), and write H.264
        let videoURL = out.appendingPathComponent("\(stem).\(label).mp4")
        let writer = try VideoWriter(url: videoURL, width: edited.size.width, height: edited.size.height, fps: video.fps)
        try await timed("decode") {
            try edited.frames { frame in
                try Task.checkCancellation()
                try writer.append(frame)
                progress("Decoding", 0.85 + 0.15 * min(1, Double(writer.count) / Double(edited.frameCount)))
            }
            try await writer.finish()
        }
        progress("Done", 1)
        let summary = "\(frames.count) frames \(fw)x\(fh) → tokens \(tokens.t)x\(tokens.h)x\(tokens.w) "
            + "(.trl \(trlBytes / 1024) kB); \(label): \(edited.tokens.t)x\(edited.tokens.h)x\(edited.tokens.w) tokens, "
            + "\(done) transformer calls; \(writer.count) frames \(writer.width)x\(writer.height) at \(r.precision). "
            + times.joined(separator: ", ")
        return EditResult(video: videoURL, trl: trlURL, summary: summary)
    }

    /// Documents/tokenreel: results stay until the app is removed (and show in the Files app if enabled).
    static func outputFolder() throws -> URL {
        let docs = try FileManager.default.url(for: .documentDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        let folder = docs.appendingPathComponent("tokenreel", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}
