import AVKit
import PhotosUI
import SwiftUI

struct ContentView: View {
    @StateObject private var model = EditorModel()
    @State private var pickerItem: PhotosPickerItem?

    var body: some View {
        NavigationStack {
            Form {
                if let problem = model.modelsProblem {
                    Section("Models") { Text(problem).foregroundStyle(.red) }
                }
                Section("Source") {
                    PhotosPicker(selection: $pickerItem, matching: .videos) {
                        Label(model.source == nil ? "Choose a video" : "Choose another video", systemImage: "film")
                    }
                    if model.isLoadingSource { ProgressView("Loading the video…") }
                    if let player = model.sourcePlayer {
                        VideoPlayer(player: player).frame(height: 220)
                    }
                    Picker("Use the first", selection: $model.maxFrames) {
                        Text("17 frames").tag(17)
                        Text("33 frames").tag(33)
                        Text("65 frames").tag(65)
                    }
                    Text("Frames are scaled to cover \(model.frameSizeText) and centre-cropped: the exported models' size.")
                        .font(.footnote).foregroundStyle(.secondary)
                }
                Section("Edit") {
                    Picker("Edit", selection: $model.mode) {
                        ForEach(EditorModel.Mode.allCases) { Text($0.rawValue).tag($0) }
                    }
                    .pickerStyle(.segmented)
                    if model.mode == .extend {
                        Stepper("Extend by \(model.extendSeconds) s", value: $model.extendSeconds, in: 1...10)
                    } else {
                        Text("Outpaints new margins above and below to a 9:16 canvas.").font(.footnote).foregroundStyle(.secondary)
                    }
                    if model.precisions.count > 1 {
                        Picker("Precision", selection: $model.precision) {
                            ForEach(model.precisions, id: \.self) { Text($0).tag($0) }
                        }
                    }
                }
                Section {
                    if model.isRunning {
                        ProgressView(value: model.progress) { Text(model.stage) }
                        Button("Cancel", role: .destructive) { model.cancel() }
                    } else {
                        Button {
                            model.run()
                        } label: {
                            Label("Run", systemImage: "wand.and.stars")
                        }
                        .disabled(!model.canRun)
                    }
                    if let message = model.message { Text(message).font(.footnote) }
                }
                if let result = model.result, let player = model.resultPlayer {
                    Section("Result") {
                        VideoPlayer(player: player)
                            .frame(height: 420)
                            .onAppear { player.play() }
                        Text(result.summary).font(.footnote).foregroundStyle(.secondary)
                        Button {
                            model.saveToPhotos()
                        } label: {
                            Label("Save to Photos", systemImage: "square.and.arrow.down")
                        }
                        ShareLink(item: result.trl) { Label("Share the source tokens (.trl)", systemImage: "square.and.arrow.up") }
                    }
                }
            }
            .navigationTitle("tokenreel")
            .onChange(of: pickerItem) { _, item in model.pick(item) }
        }
    }
}
