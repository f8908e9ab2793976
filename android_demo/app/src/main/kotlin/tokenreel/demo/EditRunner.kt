package tokenreel.demo

import android.content.Context
import android.net.Uri
import tokenreel.core.Codec
import tokenreel.core.Composite
import tokenreel.core.Edit
import tokenreel.core.Frame
import tokenreel.core.Manifest
import tokenreel.core.Trl
import java.io.File

/** What to do to the picked video. */
sealed class EditRequest {
    class Reframe(val aspect: String) : EditRequest()
    class Extend(val frames: Int) : EditRequest()
}

/** The finished edit: the MP4 in the app's cache, its token file, and timings for the screen. */
class EditOutcome(val video: File, val tokens: File, val summary: String)

/**
 * The whole edit on the phone: frames -> encoder step model -> tokens -> transformer edit (the core module's
 * windows, seeds, drafts and sampler) -> decoder step model -> the source's own pixels kept where it is known
 * (as `tokenreel reframe` / `extend` write videos) -> H.264. Runs on a background thread;
 * [progress] gets (stage, fraction done).
 */
class EditRunner(private val context: Context, private val manifest: Manifest, private val settings: Settings) {
    fun run(uri: Uri, request: EditRequest, progress: (String, Float) -> Unit): EditOutcome {
        val choice = settings.engineChoice()
        val timings = StringBuilder()
        fun timed(stage: String, start: Long) { timings.append(String.format("%s %.1f s  ", stage, (System.nanoTime() - start) / 1e9)) }

        ExportedTokenizer(manifest, choice).use { tokenizer ->
            var t0 = System.nanoTime()
            val (width, height) = tokenizer.frameSize.toList()
            val reader = VideoReader(context, uri)
            val fps = reader.info.fps
            val source = ArrayList<Frame>()     // the frames as they were encoded, kept in the output video
            val encoded = reader.use {
                val total = Math.min(settings.maxFrames, it.info.frameCount)
                var done = 0
                Codec.encodeFrames(tokenizer, it.frames(total, width, height).onEach { f -> source.add(f) }.iterator()) { n ->
                    done += n
                    progress("Encoding", Math.min(1f, done.toFloat() / total))
                } ?: throw tokenreel.core.TokenreelException("the video has no frames")
            }
            timed("encode", t0)

            t0 = System.nanoTime()
            val edited = ExportedTransformer(manifest, choice).use { transformer ->
                var calls = 0
                when (request) {
                    is EditRequest.Reframe -> {
                        val planned = Edit.reframeCalls(transformer.window, encoded.tokens, request.aspect, settings.steps,
                            settings.sampler)
                        Edit.reframeOutpaint(transformer, encoded.tokens, request.aspect, settings.steps, settings.seed, {
                            calls += it
                            progress("Generating margins", Math.min(1f, calls.toFloat() / planned))
                        }, settings.sampler).tokens
                    }
                    is EditRequest.Extend -> {
                        val planned = Edit.extendCalls(transformer.window, encoded.tokens, request.frames, settings.steps,
                            group = tokenizer.group, sampler = settings.sampler)
                        Edit.extend(transformer, encoded.tokens, request.frames, settings.steps, settings.seed,
                            group = tokenizer.group, sampler = settings.sampler, progress = {
                                calls += it
                                progress("Continuing in time", Math.min(1f, calls.toFloat() / planned))
                            }).tokens
                    }
                }
            }
            // an extension decodes the source's padded last group too; the video leaves those repeats out
            val padded = if (request is EditRequest.Extend) Codec.paddedFrames(encoded.tokens.t, tokenizer.group) else encoded.frames
            val added = if (request is EditRequest.Extend) request.frames else 0
            val positions = padded + added          // decoded positions, as the .trl header records them
            val frames = encoded.frames + added     // frames in the video
            timed("edit", t0)

            // the edited tokens, as tokenreel writes them (ans-wave, or zstd when smaller)
            val tokensFile = File(context.cacheDir, "edited.trl")
            Trl.write(tokensFile, edited, mapOf("tokenizer" to tokenizer.tokenizerId, "tokenizer_sha256" to tokenizer.tokenizerSha256,
                "bits" to tokenizer.bits.toLong(), "fps" to fps, "frames" to positions.toLong(),
                "size" to listOf(edited.w * tokenizer.spatial.toLong(), edited.h * tokenizer.spatial.toLong()),
                "source_size" to listOf(width.toLong(), height.toLong()), "resize" to "scaled to cover, centre-cropped"), zstd = ZstdJni)

            t0 = System.nanoTime()
            val video = File(context.cacheDir, "edited.mp4")
            VideoWriter(video, edited.w * tokenizer.spatial, edited.h * tokenizer.spatial, fps).use { writer ->
                var written = 0
                val decoded = Codec.decodeTokens(tokenizer, edited, positions)
                val s = tokenizer.spatial
                val kept = when (request) {
                    // the source pasted in where it sits on the canvas, feathered into the generated margins
                    is EditRequest.Reframe -> {
                        val y0 = (edited.h - encoded.tokens.h) / 2 * s
                        val x0 = (edited.w - encoded.tokens.w) / 2 * s
                        Composite.reframedFrames(decoded, source.asSequence(),
                            intArrayOf(y0, x0, y0 + encoded.tokens.h * s, x0 + encoded.tokens.w * s))
                    }
                    // the source's frames, then its last frame plus the model's decoded change against the draft
                    is EditRequest.Extend -> {
                        val draft = Edit.extendDraft(encoded.tokens, request.frames, tokenizer.group)
                        Composite.extendedFrames(source.asSequence(), decoded.drop(padded),
                            Codec.decodeTokens(tokenizer, draft, positions).drop(padded))
                    }
                }
                for (frame in kept) {
                    writer.write(frame)
                    written++
                    progress("Decoding", written.toFloat() / frames)
                }
                writer.finish()
            }
            timed("decode", t0)
            return EditOutcome(video, tokensFile, "${edited.t}x${edited.h}x${edited.w} tokens, $frames frames. $timings")
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
