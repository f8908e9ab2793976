import Foundation

// What the runtime asks of a model backend (tokenreel/runtime/backend.py, edit.py's TransformerBackend).
// Frames are (F, 3, H, W) float32 in [-1, 1]; latents are (T', bits, H/8, W/8). State is explicit and
// opaque to the runtime: nil at the start of a video, then whatever the backend returned last time.

public protocol TokenizerBackend {
    associatedtype EncoderState
    associatedtype DecoderState
    /// Names the weights' family and version.
    var tokenizerId: String { get }
    /// sha256 of the weights file: .trl files are bound to it.
    var tokenizerSHA256: String { get }
    var bits: Int { get }            // D
    var spatial: Int { get }         // 8: pixels per token side
    var group: Int { get }           // 4: frames per latent frame after the first
    var latentsPerCall: Int { get }  // how many latent frames one step call may take
    /// (width, height) of the frames an encoder exported for one frame size takes (an export's step models), nil
    /// for one that takes any size (the default; backend.py's `frame_size`): a reframe's pixel draft tiles a larger
    /// canvas over it (`TiledEncoder`).
    var frameSize: (width: Int, height: Int)? { get }

    /// First call: 1 + 4k frames; later calls: 4k frames. Returns the pre-quantization latent.
    func encodeStep(_ frames: Tensor, state: EncoderState?) throws -> (Tensor, EncoderState)
    /// +-1 latents -> frames; the first call's first latent frame gives 1 frame, every other one 4.
    func decodeStep(_ latents: Tensor, state: DecoderState?) throws -> (Tensor, DecoderState)
}

extension TokenizerBackend {
    public var frameSize: (width: Int, height: Int)? { nil }
}

/// (T, H, W) tokens per transformer call.
public struct WindowSize: Equatable {
    public let t: Int, h: Int, w: Int
    public init(t: Int, h: Int, w: Int) { self.t = t; self.h = h; self.w = w }
}

public protocol TransformerBackend {
    var window: WindowSize { get }
    var bits: Int { get }
    var splits: Int { get }
    var subBits: Int { get }
    var maskId: Int { get }
    /// (splits, T*H*W) sub-tokens, row-major -> (splits, T*H*W, 2^subBits) float32 logits, row-major.
    func logits(_ subTokens: [Int64]) throws -> [Float]
}
