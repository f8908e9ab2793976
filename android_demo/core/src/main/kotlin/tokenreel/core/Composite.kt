package tokenreel.core

/**
 * Keep the user's pixels (tokenreel/runtime/composite.py, specified in docs/sampler.md "Keeping the source's
 * pixels"): video outputs of an edit take the source's own frames where the source is known. Reframe blends
 * the decoded (generated) margins in across a short feathered seam; extend continues from the source's last
 * frame and adds to it only what the model changed against its draft. Integer arithmetic throughout (weights
 * out of 256), so the bytes are Python's (CompositeTest).
 */
object Composite {
    const val FEATHER = 8      // pixels (one token) over which a generated margin blends into the kept source

    private fun byte(b: Byte) = b.toInt() and 0xFF

    /**
     * (height * width) weights of the source, 0..256: inside [box] = (y0, x0, y1, x1) (pixels, ends exclusive),
     * w(d) = min(256, (2d + 1) * 256 / (2 * feather)) (floor) at distance d = 0, 1, ... from the nearest box side
     * that faces generated canvas (a side on the canvas border faces nothing; none near: 256); 0 outside.
     */
    fun featherWeights(height: Int, width: Int, box: IntArray, feather: Int = FEATHER): IntArray {
        val (y0, x0, y1, x1) = box.toList()
        val out = IntArray(height * width)
        for (y in Math.max(0, y0) until Math.min(height, y1)) for (x in Math.max(0, x0) until Math.min(width, x1)) {
            var d = 1L shl 30      // "no side near"; Long keeps (2d + 1) * 256 exact
            if (y0 > 0) d = Math.min(d, (y - y0).toLong())
            if (y1 < height) d = Math.min(d, (y1 - 1 - y).toLong())
            if (x0 > 0) d = Math.min(d, (x - x0).toLong())
            if (x1 < width) d = Math.min(d, (x1 - 1 - x).toLong())
            out[y * width + x] = Math.min(256L, (2 * d + 1) * 256 / (2 * feather)).toInt()
        }
        return out
    }

    /** (w * source + (256 - w) * decoded + 128) >> 8 per channel, w from [weights] (one per pixel) or [weight]. */
    fun blend(source: Frame, decoded: Frame, weights: IntArray? = null, weight: Int = 0): Frame {
        require(source.width == decoded.width && source.height == decoded.height) { "blended frames differ in size" }
        val out = ByteArray(decoded.rgb.size)
        for (k in 0 until decoded.width * decoded.height) {
            val w = weights?.get(k) ?: weight
            for (c in 0 until 3) {
                val i = k * 3 + c
                out[i] = ((w * byte(source.rgb[i]) + (256 - w) * byte(decoded.rgb[i]) + 128) shr 8).toByte()
            }
        }
        return Frame(decoded.width, decoded.height, out)
    }

    /**
     * Reframed frames: each decoded canvas frame with the source frame (same count, sized to [box]) pasted into
     * [box] = (y0, x0, y1, x1) pixels and feathered into the generated margins.
     */
    fun reframedFrames(decoded: Sequence<Frame>, source: Sequence<Frame>, box: IntArray, feather: Int = FEATHER): Sequence<Frame> {
        val (y0, x0, y1, x1) = box.toList()
        var weights: IntArray? = null
        return decoded.zip(source).map { (dec, src) ->
            require(src.width == x1 - x0 && src.height == y1 - y0) { "the source frame must fill the box" }
            val w = weights ?: featherWeights(dec.height, dec.width, box, feather).also { weights = it }
            val placed = dec.rgb.copyOf()
            for (y in 0 until src.height) System.arraycopy(src.rgb, y * src.width * 3, placed, ((y0 + y) * dec.width + x0) * 3, src.width * 3)
            blend(Frame(dec.width, dec.height, placed), dec, w)
        }
    }

    /**
     * The source's own frames, then each generated frame as the source's last frame plus what the model changed:
     * clip(last + generated - draft, 0, 255) per byte, where [draft] is the decoded draft the model started from
     * (the last latent frame copied forward). Where the model kept its draft the extension is the source's last
     * frame, sharp; the decoder's blur and flicker cancel where draft and result agree. Without source frames,
     * the generated frames as they are.
     */
    fun extendedFrames(source: Sequence<Frame>, generated: Sequence<Frame>, draft: Sequence<Frame>): Sequence<Frame> = sequence {
        var last: Frame? = null
        for (f in source) { last = f; yield(f) }
        for ((g, d) in generated.zip(draft)) {
            val l = last
            if (l == null) { yield(g); continue }
            val out = ByteArray(g.rgb.size)
            for (i in out.indices) out[i] = Math.min(255, Math.max(0, byte(l.rgb[i]) + byte(g.rgb[i]) - byte(d.rgb[i]))).toByte()
            yield(Frame(g.width, g.height, out))
        }
    }
}
