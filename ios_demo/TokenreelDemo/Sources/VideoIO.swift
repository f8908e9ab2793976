import Accelerate
import AVFoundation
import TokenreelCore

/// The first frames of a clip, scaled to cover the export's frame size and centre-cropped to it exactly
/// (video.py's `read_video_cropped`): the input of fixed-size exported models.
struct SourceVideo {
    var frames: [Frame]
    var fps: Double
    var sourceSize: (width: Int, height: Int)
}

enum VideoIO {
    static func readFrames(_ url: URL, width W: Int, height H: Int, maxFrames: Int) async throws -> SourceVideo {
        let asset = AVURLAsset(url: url)
        guard let track = try await asset.loadTracks(withMediaType: .video).first else {
            throw TokenreelError("\(url.lastPathComponent): the file has no video track")
        }
        let (rate, natural, transform) = try await track.load(.nominalFrameRate, .naturalSize, .preferredTransform)
        let oriented = natural.applying(transform)
        // the composition applies preferredTransform: portrait clips come out upright
        let composition = try await AVMutableVideoComposition.videoComposition(withPropertiesOf: asset)
        let reader = try AVAssetReader(asset: asset)
        let output = AVAssetReaderVideoCompositionOutput(
            videoTracks: [track], videoSettings: [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA])
        output.videoComposition = composition
        output.alwaysCopiesSampleData = false
        guard reader.canAdd(output) else { throw TokenreelError("cannot read frames from \(url.lastPathComponent)") }
        reader.add(output)
        guard reader.startReading() else {
            throw TokenreelError("cannot read \(url.lastPathComponent): \(reader.error?.localizedDescription ?? "unknown error")")
        }
        defer { reader.cancelReading() }
        var frames: [Frame] = []
        while frames.count < maxFrames, let sample = output.copyNextSampleBuffer() {
            try Task.checkCancellation()
            guard let buffer = CMSampleBufferGetImageBuffer(sample) else { continue }
            frames.append(try coverCrop(buffer, width: W, height: H))
        }
        if frames.isEmpty { throw TokenreelError("\(url.lastPathComponent): contains no decodable video frames") }
        return SourceVideo(frames: frames, fps: rate > 0 ? Double(rate) : 30,
                           sourceSize: (Int(abs(oriented.width).rounded()), Int(abs(oriented.height).rounded())))
    }

    /// A BGRA pixel buffer -> an RGB frame of W x H: scale to cover, crop the centre (vImage resampling).
    static func coverCrop(_ buffer: CVPixelBuffer, width W: Int, height H: Int) throws -> Frame {
        CVPixelBufferLockBaseAddress(buffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(buffer) else { throw TokenreelError("an empty video frame") }
        let (w, h) = (CVPixelBufferGetWidth(buffer), CVPixelBufferGetHeight(buffer))
        let rowBytes = CVPixelBufferGetBytesPerRow(buffer)
        let scale = max(Double(W) / Double(w), Double(H) / Double(h))
        let cw = min(w, max(1, Int((Double(W) / scale).rounded())))
        let ch = min(h, max(1, Int((Double(H) / scale).rounded())))
        let (x0, y0) = ((w - cw) / 2, (h - ch) / 2)
        var src = vImage_Buffer(data: base.advanced(by: y0 * rowBytes + x0 * 4), height: vImagePixelCount(ch),
                                width: vImagePixelCount(cw), rowBytes: rowBytes)
        var bgra = [UInt8](repeating: 0, count: W * H * 4)
        let error = bgra.withUnsafeMutableBytes { out -> vImage_Error in
            var dst = vImage_Buffer(data: out.baseAddress, height: vImagePixelCount(H), width: vImagePixelCount(W), rowBytes: W * 4)
            return vImageScale_ARGB8888(&src, &dst, nil, vImage_Flags(kvImageHighQualityResampling))
        }
        guard error == kvImageNoError else { throw TokenreelError("resizing a frame failed (vImage error \(error))") }
        var rgb = [UInt8](repeating: 0, count: W * H * 3)
        for i in 0..<(W * H) {
            rgb[3 * i] = bgra[4 * i + 2]; rgb[3 * i + 1] = bgra[4 * i + 1]; rgb[3 * i + 2] = bgra[4 * i]
        }
        return Frame(width: W, height: H, rgb: rgb)
    }
}

/// RGB frames -> an H.264 .mp4 (AVAssetWriter), one frame at a time.
final class VideoWriter {
    let writer: AVAssetWriter
    let input: AVAssetWriterInput
    let adaptor: AVAssetWriterInputPixelBufferAdaptor
    let width: Int, height: Int, fps: Double
    private(set) var count = 0

    init(url: URL, width: Int, height: Int, fps: Double) throws {
        try? FileManager.default.removeItem(at: url)
        self.width = width; self.height = height; self.fps = fps
        writer = try AVAssetWriter(outputURL: url, fileType: .mp4)
        input = AVAssetWriterInput(mediaType: .video, outputSettings: [
            AVVideoCodecKey: AVVideoCodecType.h264, AVVideoWidthKey: width, AVVideoHeightKey: height,
        ])
        input.expectsMediaDataInRealTime = false
        adaptor = AVAssetWriterInputPixelBufferAdaptor(assetWriterInput: input, sourcePixelBufferAttributes: [
            kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA,
            kCVPixelBufferWidthKey as String: width, kCVPixelBufferHeightKey as String: height,
        ])
        guard writer.canAdd(input) else { throw TokenreelError("cannot write H.264 at \(width)x\(height)") }
        writer.add(input)
        guard writer.startWriting() else {
            throw TokenreelError("cannot start writing the video: \(writer.error?.localizedDescription ?? "unknown error")")
        }
        writer.startSession(atSourceTime: .zero)
    }

    func append(_ frame: Frame) throws {
        precondition(frame.width == width && frame.height == height)
        while !input.isReadyForMoreMediaData { Thread.sleep(forTimeInterval: 0.005) }   // offline writing: wait briefly
        guard let pool = adaptor.pixelBufferPool else { throw TokenreelError("the video writer has no buffer pool") }
        var made: CVPixelBuffer?
        CVPixelBufferPoolCreatePixelBuffer(nil, pool, &made)
        guard let buffer = made else { throw TokenreelError("out of video buffers") }
        CVPixelBufferLockBaseAddress(buffer, [])
        let base = CVPixelBufferGetBaseAddress(buffer)!.assumingMemoryBound(to: UInt8.self)
        let rowBytes = CVPixelBufferGetBytesPerRow(buffer)
        frame.rgb.withUnsafeBufferPointer { rgb in
            for y in 0..<height {
                for x in 0..<width {
                    let s = (y * width + x) * 3, d = y * rowBytes + x * 4
                    base[d] = rgb[s + 2]; base[d + 1] = rgb[s + 1]; base[d + 2] = rgb[s]; base[d + 3] = 255
                }
            }
        }
        CVPixelBufferUnlockBaseAddress(buffer, [])
        let time = CMTime(seconds: Double(count) / fps, preferredTimescale: 60_000)
        guard adaptor.append(buffer, withPresentationTime: time) else {
            throw TokenreelError("writing frame \(count) failed: \(writer.error?.localizedDescription ?? "unknown error")")
        }
        count += 1
    }

    func finish() async throws {
        input.markAsFinished()
        await writer.finishWriting()
        guard writer.status == .completed else {
            throw TokenreelError("the video was not written: \(writer.error?.localizedDescription ?? "unknown error")")
        }
    }
}
