package tokenreel.demo

import android.content.Context
import android.net.Uri
import tokenreel.core.Edit
import tokenreel.core.Editor
import tokenreel.core.Manifest
import java.io.File

/** What to do to the picked video. */
sealed class EditRequest {
    class Reframe(val aspect: String) : EditRequest()
    class Extend(val frames: Int) : EditRequest()
}

/** The finished edit: the MP4 in the app's cache, its token file, and timings for the screen. */
class EditOutcome(val video: File, val tokens: File, val summary: String)

/**
 * The whole edit on the phone, through the core's Editor and Clip (tokenreel.Editor / Clip, docs/api.md): frames ->
 * encoder step model -> a clip -> reframe or extend in token space -> its .trl -> frames decoded with the source's
 * own pixels kept where it is known (as `tokenreel reframe` / `extend` render) -> H.264. Runs on a background
 * thread; [progress] gets (stage, fraction done).
 */
class EditRunner(private val context: Context, private val manifest: Manifest, private val settings: Settings) {
    fun run(uri: Uri, request: EditRequest, progress: (String, Float) -> Unit): EditOutcome {
        val choice = settings.engineChoice()
        val timings = StringBuilder()
        fun timed(stage: String, start: Long) { timings.append(String.format("%s %.1f s  ", stage, (System.nanoTime() - start) / 1e9)) }

        ExportedTokenizer(manifest, choice).use { tokenizer ->
            ExportedTransformer(manifest, choice).use { transformer ->
                val editor = Editor(tokenizer, transformer, ZstdJni)
                var t0 = System.nanoTime()
                val (width, height) = tokenizer.frameSize.toList()
                val clip = VideoReader(context, uri).use {
                    val total = Math.min(settings.maxFrames, it.info.frameCount)
                    var done = 0
                    editor.encode(it.frames(total, width, height).iterator(), it.info.fps, intArrayOf(it.info.width, it.info.height),
                        Editor.RESIZE_COVER, "the video") { n ->
                        done += n
                        progress("Encoding", Math.min(1f, done.toFloat() / total))
                    }
                }
                timed("encode", t0)

                t0 = System.nanoTime()
                var calls = 0
                val edited = when (request) {
                    is EditRequest.Reframe -> {
                        val planned = Edit.reframeCalls(transformer.window, clip.tokens, request.aspect, settings.steps,
                            settings.sampler)
                        clip.reframe(request.aspect, seed = settings.seed, steps = settings.steps, sampler = settings.sampler) {
                            calls += it
                            progress("Generating margins", Math.min(1f, calls.toFloat() / planned))
                        }
                    }
                    is EditRequest.Extend -> {
                        val planned = Edit.extendCalls(transformer.window, clip.tokens, request.frames, settings.steps,
                            group = tokenizer.group, sampler = settings.sampler)
                        clip.extend(frames = request.frames, seed = settings.seed, steps = settings.steps,
                            sampler = settings.sampler) {
                            calls += it
                            progress("Continuing in time", Math.min(1f, calls.toFloat() / planned))
                        }
                    }
                }
                timed("edit", t0)

                // the edited tokens, as tokenreel writes them (ans-wave, or zstd when smaller)
                val tokensFile = File(context.cacheDir, "edited.trl")
                edited.save(tokensFile)

                t0 = System.nanoTime()
                val video = File(context.cacheDir, "edited.mp4")
                var written = 0
                VideoWriter(video, edited.size[0], edited.size[1], edited.fps).use { writer ->
                    for (frame in edited.frames()) {
                        writer.write(frame)
                        written++
                        progress("Decoding", Math.min(1f, written.toFloat() / edited.frameCount))
                    }
                    writer.finish()
                }
                timed("decode", t0)
                return EditOutcome(video, tokensFile, "${edited.tokens.t}x${edited.tokens.h}x${edited.tokens.w} tokens, " +
                    "$written frames. $timings")
            }
        }
    }
}

/** zstd-jni behind the core module's Zstd interface. */
object ZstdJni : tokenreel.core.Zstd {
    override fun compress(data: ByteArray, level: Int): ByteArray = com.github.luben.zstd.Zstd.compress(data, level)

    override fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray {
        val size = com.github.luben.zstd.Zstd.decompressedSize(data)
        if (size <= 0 || size > maxOutputSize) throw tokenreel.core.TokenreelException("zstd payload larger than the grid")
        return com.github.luben.zstd.Zstd.decompress(data, size.toInt())
    }
}
