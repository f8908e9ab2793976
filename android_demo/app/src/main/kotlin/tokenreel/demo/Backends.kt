package tokenreel.demo

import tokenreel.core.FloatTensor
import tokenreel.core.Manifest
import tokenreel.core.StepModel
import tokenreel.core.StepOutput
import tokenreel.core.Tiles
import tokenreel.core.TokenizerBackend
import tokenreel.core.TokenreelException
import tokenreel.core.TransformerBackend
import java.io.Closeable

/** Which engine and precision run the models (the settings screen's choice). */
class EngineChoice(val format: String, val precision: String, val provider: Provider, val threads: Int) {
    fun open(manifest: Manifest, role: String): Engine {
        val artifact = manifest.find(role, format, precision)
        manifest.verify(artifact)       // size and sha256 against the manifest, before anything runs it
        val file = manifest.fileOf(artifact)
        return if (format == "executorch") ExecutorchEngine(file, artifact) else OrtEngine(file, artifact, provider, threads)
    }
}

/** The encoder and decoder step models of an export, as the runtime's TokenizerBackend (exported.py: ExportedTokenizer). */
class ExportedTokenizer(manifest: Manifest, choice: EngineChoice) : TokenizerBackend, Closeable {
    private val geometry = manifest.geometry
    override val tokenizerId = manifest.tokenizerId
    override val tokenizerSha256 = manifest.tokenizerSha256
    override val bits = geometry.bits
    override val spatial = geometry.spatial
    override val group = geometry.group
    override val latentsPerCall = 1
    /** (width, height) the step models were exported for (a reframe's pixel draft encodes a larger canvas in tiles of it). */
    override val frameSize: IntArray = geometry.frameSize
    private val encoderEngine = choice.open(manifest, "encoder_step")
    private val decoderEngine = choice.open(manifest, "decoder_step")
    // with geometry.start_calls, a video's (a decoder tile's) first input warms the zero states first
    private val encoder = StepModel(encoderEngine.artifact, geometry.startCalls?.encoderStep ?: 0) { encoderEngine.run(it) }
    private val decoder = StepModel(decoderEngine.artifact, geometry.startCalls?.decoderStep ?: 0) { decoderEngine.run(it) }

    override fun encodeStep(frames: FloatTensor, state: Any?): StepOutput {
        val (f, c, h, w) = frames.shape.toList()
        if (w != frameSize[0] || h != frameSize[1]) {
            throw TokenreelException("the encoder was exported for ${frameSize[0]}x${frameSize[1]} frames, not ${w}x$h")
        }
        var input = frames
        if (state == null) {    // the first frame stands alone: it fills its group, as in the server model
            val one = c * h * w
            input = FloatTensor(intArrayOf(group, c, h, w), FloatArray(group * one).also { for (g in 0 until group) System.arraycopy(frames.data, 0, it, g * one, one) })
        } else if (f != group) {
            throw TokenreelException("the encoder step takes $group frames a call, not $f")
        }
        @Suppress("UNCHECKED_CAST")
        val (latent, newState, _) = encoder.call(input, state as List<FloatArray>?)
        return StepOutput(latent, newState)
    }

    private fun decodeTile(latents: FloatTensor, state: Any?): StepOutput {
        @Suppress("UNCHECKED_CAST")
        val (frames, newState, first) = decoder.call(latents, state as List<FloatArray>?)
        if (!first) return StepOutput(frames, newState)
        // of the first call's frames only the last is real
        val (n, c, h, w) = frames.shape.toList()
        val one = c * h * w
        return StepOutput(FloatTensor(intArrayOf(1, c, h, w), frames.data.copyOfRange((n - 1) * one, n * one)), newState)
    }

    override fun decodeStep(latents: FloatTensor, state: Any?): StepOutput {
        val tileH = frameSize[1] / spatial
        val tileW = frameSize[0] / spatial
        val (_, _, h, w) = latents.shape.toList()
        if (h == tileH && w == tileW) return decodeTile(latents, state)
        if (h < tileH || w < tileW) {
            throw TokenreelException("the decoder was exported for ${frameSize[0]}x${frameSize[1]} frames; a " +
                "${w * spatial}x${h * spatial} video is smaller: export at its size")
        }
        // a larger grid (a reframed canvas): overlapping tiles of the exported size
        @Suppress("UNCHECKED_CAST")
        val (frames, states) = Tiles.decodeTiled({ tile, s -> decodeTile(tile, s) }, latents, state as Map<List<Int>, Any?>?, tileH, tileW, spatial)
        return StepOutput(frames, states)
    }

    override fun close() {
        encoderEngine.close()
        decoderEngine.close()
    }
}

/** The transformer of an export, as the runtime's TransformerBackend (exported.py: ExportedTransformer). */
class ExportedTransformer(manifest: Manifest, choice: EngineChoice) : TransformerBackend, Closeable {
    private val geometry = manifest.geometry
    override val window: IntArray = geometry.window ?: throw TokenreelException("the export holds no transformer; export one with --transformer")
    override val bits = geometry.bits
    override val splits = geometry.splits!!
    override val subBits = geometry.subBits!!
    override val maskId = geometry.maskId!!
    private val engine: Engine = choice.open(manifest, "transformer")

    override fun logits(subTokens: LongArray): FloatArray = engine.run(listOf(subTokens))[0]

    override fun close() = engine.close()
}
