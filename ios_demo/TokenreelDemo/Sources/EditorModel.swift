import AVKit
import CoreTransferable
import Photos
import PhotosUI
import SwiftUI
import TokenreelCore
import UniformTypeIdentifiers

/// A movie from the photo picker, copied into the app's temporary folder.
struct PickedMovie: Transferable {
    let url: URL

    static var transferRepresentation: some TransferRepresentation {
        FileRepresentation(contentType: .movie) { movie in SentTransferredFile(movie.url) } importing: { received in
            let ext = received.file.pathExtension.isEmpty ? "mov" : received.file.pathExtension
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent("source-\(UUID().uuidString).\(ext)")
            try FileManager.default.copyItem(at: received.file, to: copy)
            return PickedMovie(url: copy)
        }
    }
}

@MainActor
final class EditorModel: ObservableObject {
    enum Mode: String, CaseIterable, Identifiable {
        case reframe = "Reframe 9:16", extend = "Extend"
        var id: String { rawValue }
    }

    @Published var mode: Mode = .reframe
    @Published var extendSeconds = 2
    @Published var maxFrames = 33             // 1 + 4k frames: whole latent groups
    @Published var precision = "fp16"
    @Published private(set) var precisions: [String] = []
    @Published private(set) var modelsProblem: String?
    @Published private(set) var frameSizeText = ""
    @Published private(set) var source: URL?
    @Published private(set) var sourcePlayer: AVPlayer?
    @Published private(set) var result: EditResult?
    @Published private(set) var resultPlayer: AVPlayer?
    @Published private(set) var isRunning = false
    @Published private(set) var progress = 0.0
    @Published private(set) var stage = ""
    @Published private(set) var message: String?
    @Published private(set) var isLoadingSource = false

    private let pipeline = Pipeline()
    private var task: Task<Void, Never>?

    init() {
        do {
            let (_, manifest) = try Pipeline.bundledManifest()
            precisions = manifest.precisions(format: "coreml")
            if precisions.isEmpty { modelsProblem = "models/ has no complete Core ML export (encoder, decoder and transformer)" }
            precision = precisions.contains("fp16") ? "fp16" : (precisions.first ?? "fp16")
            let size = manifest.geometry.frameSize
            frameSizeText = "\(size[0])×\(size[1])"
        } catch {
            modelsProblem = error.localizedDescription
        }
    }

    var canRun: Bool { source != nil && modelsProblem == nil && !isRunning && !isLoadingSource }

    func pick(_ item: PhotosPickerItem?) {
        guard let item else { return }
        isLoadingSource = true
        message = nil
        Task {
            defer { isLoadingSource = false }
            do {
                guard let movie = try await item.loadTransferable(type: PickedMovie.self) else {
                    message = "That item is not a video."
                    return
                }
                source = movie.url
                sourcePlayer = AVPlayer(url: movie.url)
                result = nil
                resultPlayer = nil
            } catch {
                message = "Could not load the video: \(error.localizedDescription)"
            }
        }
    }

    func run() {
        guard let source, canRun else { return }
        let kind: EditRequest.Kind = mode == .reframe ? .reframe(aspect: "9:16") : .extend(seconds: extendSeconds)
        let request = EditRequest(source: source, kind: kind, precision: precision, maxFrames: maxFrames)
        isRunning = true
        progress = 0
        stage = "Starting"
        message = nil
        result = nil
        resultPlayer = nil
        task = Task {
            do {
                let r = try await pipeline.run(request) { stage, fraction in
                    Task { @MainActor [weak self] in
                        guard let self, self.isRunning else { return }
                        self.stage = stage
                        self.progress = max(self.progress, fraction)
                    }
                }
                result = r
                resultPlayer = AVPlayer(url: r.video)
            } catch is CancellationError {
                message = "Cancelled."
            } catch {
                message = error.localizedDescription
            }
            isRunning = false
        }
    }

    func cancel() { task?.cancel() }

    func saveToPhotos() {
        guard let url = result?.video else { return }
        Task {
            let status = await PHPhotoLibrary.requestAuthorization(for: .addOnly)
            guard status == .authorized || status == .limited else {
                message = "tokenreel may not add to your photo library (Settings → Privacy → Photos)."
                return
            }
            do {
                try await PHPhotoLibrary.shared().performChanges {
                    _ = PHAssetChangeRequest.creationRequestForAssetFromVideo(atFileURL: url)
                }
                message = "Saved to Photos."
            } catch {
                message = "Saving failed: \(error.localizedDescription)"
            }
        }
    }
}
