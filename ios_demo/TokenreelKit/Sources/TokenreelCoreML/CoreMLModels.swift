// Core ML exists only on Apple platforms: elsewhere (Linux) this file compiles to nothing.
#if canImport(CoreML)
import CoreML
import Foundation
import TokenreelCore

extension StepModel {
    /// A Core ML artifact as a step model (TokenreelCore's `StepModel`: zeros at the start of a video, then
    /// what it returned, after `startCalls` warm-up calls). State inputs and outputs are paired by the
    /// manifest's `state` list.
    init(_ artifact: CoreMLArtifact, startCalls: Int) throws {
        let e = artifact.entry
        let inputs = Array(e.inputs.dropFirst())
        let stateOutputIndex: [Int] = try inputs.map { input in   // for each state input, the index of its output
            guard let pair = e.state.first(where: { $0.input == input.name }),
                  let k = e.outputs.firstIndex(where: { $0.name == pair.output }) else {
                throw TokenreelError("\(e.file): the manifest pairs no output with state input \(input.name)")
            }
            return k
        }
        self.init(stateShapes: inputs.map(\.shape), startCalls: startCalls) { feeds in
            let out = try artifact(feeds.map { Feed.float($0) })
            return [out[0]] + stateOutputIndex.map { out[$0] }
        }
    }
}

/// The tokenizer of an export folder in Core ML (exported.py's `ExportedTokenizer`): one latent frame per
/// call at the exported frame size; larger grids (a reframed canvas) are decoded in overlapping tiles.
public final class CoreMLTokenizer: TokenizerBackend {
    public typealias EncoderState = [Tensor]
    public typealias DecoderState = [TileCorner: [Tensor]]

    public let tokenizerId: String
    public let tokenizerSHA256: String
    public let bits: Int, spatial: Int, group: Int
    public let latentsPerCall = 1
    /// (width, height) the step models were exported for.
    public let exportedSize: (width: Int, height: Int)
    /// TokenizerBackend's: the encoder takes frames of the exported size only (a reframe's pixel draft tiles over it).
    public var frameSize: (width: Int, height: Int)? { exportedSize }
    let encoder: StepModel, decoder: StepModel

    public static func load(folder: URL, manifest: Manifest, precision: String, cache: URL? = nil,
                            verify: Bool = true) async throws -> CoreMLTokenizer {
        let enc = try await CoreMLArtifact.load(folder: folder, manifest: manifest, role: "encoder_step",
                                                precision: precision, cache: cache, verify: verify)
        let dec = try await CoreMLArtifact.load(folder: folder, manifest: manifest, role: "decoder_step",
                                                precision: precision, cache: cache, verify: verify)
        return try CoreMLTokenizer(manifest: manifest, encoder: enc, decoder: dec)
    }

    init(manifest m: Manifest, encoder: CoreMLArtifact, decoder: CoreMLArtifact) throws {
        guard let tok = m.weights["tokenizer"] else { throw TokenreelError("the manifest names no tokenizer weights") }
        tokenizerId = tok.id
        tokenizerSHA256 = tok.sha256
        bits = m.geometry.bits; spatial = m.geometry.spatial; group = m.geometry.group
        exportedSize = (m.geometry.frameSize[0], m.geometry.frameSize[1])
        // with geometry.start_calls, a video's (a decoder tile's) first input warms the zero states first
        self.encoder = try StepModel(encoder, startCalls: m.geometry.startCalls?.encoderStep ?? 0)
        self.decoder = try StepModel(decoder, startCalls: m.geometry.startCalls?.decoderStep ?? 0)
    }

    func check(h: Int, w: Int) throws {
        if w != exportedSize.width || h != exportedSize.height {
            throw TokenreelError("the coreml encoder was exported for \(exportedSize.width)x\(exportedSize.height) frames, "
                                 + "not \(w)x\(h); export at that size")
        }
    }

    public func encodeStep(_ frames: Tensor, state: [Tensor]?) throws -> (Tensor, [Tensor]) {
        try check(h: frames.shape[2], w: frames.shape[3])
        var x = frames
        if state == nil {  // the first frame stands alone: it fills its group, as in the server model
            let one = Array(frames.data[0..<(frames.count / frames.shape[0])])
            x = Tensor(shape: [group] + Array(frames.shape.dropFirst()), data: Array([[Float]](repeating: one, count: group).joined()))
        }
        let (latent, newState, _) = try encoder(x, state: state)
        return (latent, newState)
    }

    func decodeTile(_ latents: Tensor, _ state: [Tensor]?) throws -> (Tensor, [Tensor]) {
        let (frames, newState, first) = try decoder(latents, state: state)
        guard first else { return (frames, newState) }
        // of the first call's 4 frames only the last is real
        let per = frames.count / frames.shape[0]
        let kept = frames.shape[0] - (group - 1)
        return (Tensor(shape: [kept] + Array(frames.shape.dropFirst()), data: Array(frames.data[((group - 1) * per)...])), newState)
    }

    public func decodeStep(_ latents: Tensor, state: DecoderState?) throws -> (Tensor, DecoderState) {
        let tile = (h: exportedSize.height / spatial, w: exportedSize.width / spatial)
        let (H, W) = (latents.shape[2], latents.shape[3])
        if H == tile.h && W == tile.w {
            let corner = TileCorner(y: 0, x: 0)
            let (frames, s) = try decodeTile(latents, state?[corner])
            return (frames, [corner: s])
        }
        if H < tile.h || W < tile.w {
            throw TokenreelError("the coreml decoder was exported for \(exportedSize.width)x\(exportedSize.height) frames; "
                                 + "a \(W * spatial)x\(H * spatial) video is smaller: export at its size")
        }
        // a larger grid (a reframed canvas): overlapping tiles of the exported size (Tiles.swift)
        return try decodeTiled({ try self.decodeTile($0, $1) }, latents: latents, states: state, tile: tile, spatial: spatial)
    }
}

/// The transformer of an export folder in Core ML (exported.py's `ExportedTransformer`). Core ML has no
/// int64 tensors: sub-tokens go in as int32 (the manifest says so).
public final class CoreMLTransformer: TransformerBackend {
    public let window: WindowSize
    public let bits: Int, splits: Int, subBits: Int, maskId: Int
    public let tokenizerSHA256: String?
    let model: CoreMLArtifact

    public static func load(folder: URL, manifest: Manifest, precision: String, cache: URL? = nil,
                            verify: Bool = true) async throws -> CoreMLTransformer {
        let g = manifest.geometry
        guard let w = g.window, w.count == 3, let splits = g.splits, let subBits = g.subBits, let maskId = g.maskId else {
            throw TokenreelError("\(folder.path): the export holds no transformer; export one with --transformer")
        }
        let a = try await CoreMLArtifact.load(folder: folder, manifest: manifest, role: "transformer",
                                              precision: precision, cache: cache, verify: verify)
        return CoreMLTransformer(window: WindowSize(t: w[0], h: w[1], w: w[2]), bits: g.bits, splits: splits,
                                 subBits: subBits, maskId: maskId, tokenizerSHA256: manifest.weights["tokenizer"]?.sha256,
                                 model: a)
    }

    init(window: WindowSize, bits: Int, splits: Int, subBits: Int, maskId: Int, tokenizerSHA256: String?, model: CoreMLArtifact) {
        self.window = window; self.bits = bits; self.splits = splits; self.subBits = subBits; self.maskId = maskId
        self.tokenizerSHA256 = tokenizerSHA256; self.model = model
    }

    public func logits(_ subTokens: [Int64]) throws -> [Float] {
        let n = subTokens.count / splits
        let out = try model([.int(shape: [1, splits, n], data: subTokens.map { Int32(truncatingIfNeeded: $0) })])
        return out[0].data   // (1, splits, N, V) in C order = (splits, N, V)
    }
}
#endif
