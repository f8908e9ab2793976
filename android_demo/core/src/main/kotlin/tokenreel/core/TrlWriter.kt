package tokenreel.core

import java.io.OutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.CRC32

/**
 * Writes a version-2 `.trl` (docs/trl-format.md, "Version 2") to [out] as trl.TrlWriter writes it, byte for byte:
 * [append] latent frames as they come, [close] writes the rest and the end chunk. Chunks of [chunkFrames] latent
 * frames, each coded with the smaller of ans-wave and zstd that readers accept ([coder] null; ans-wave alone
 * without a [zstd]), or with [coder]. Memory: the chunk being filled, the frame before it and the counts.
 */
class TrlWriter(private val out: OutputStream, meta: Map<String, Any?>, private val coder: String? = null,
                private val chunkFrames: Int = Trl.CHUNK_FRAMES, private val zstd: Zstd? = null) {
    private val meta = LinkedHashMap(meta)
    private val bits = meta["bits"].let { if (it is Number) it.toInt() else -1 }
    private var state: TrlStream.State? = null
    private val buffer = ArrayList<Pair<TokenGrid, Long>>()
    private var buffered = 0
    private val crc = CRC32()
    /** The chunks' coders so far, in the order first used (the header's `coder` a reader returns). */
    val coders = ArrayList<String>()
    var bytes = 0L
        private set
    private var closed = false

    init {
        if (coder != null && coder !in Trl.CHUNK_CODERS) {
            throw IllegalArgumentException("coder '$coder': a version-2 .trl chunk is ${Trl.CHUNK_CODERS.joinToString(" or ")}")
        }
        if (coder == Trl.ZSTD && zstd == null) throw TokenreelException("writing zstd chunks needs a Zstd implementation")
        if (bits !in 1..Trl.MAX_BITS) throw IllegalArgumentException("bits ${meta["bits"]}: 1 to ${Trl.MAX_BITS}")
        if (chunkFrames !in 1..0xffff) throw IllegalArgumentException("chunkFrames $chunkFrames: 1 to 65535")
        header(1, 1)                            // the header is checked now, not at the first chunk
    }

    /** Add latent frames that stand for [frames] video frames (a file's first latent frame 1, every later one 4). */
    fun append(tokens: TokenGrid, frames: Long) {
        check(!closed) { "the .trl is closed" }
        if (tokens.t < 1) throw IllegalArgumentException("latent frames must be (n, H, W), n >= 1")
        if (tokens.data.any { it < 0 || it >= 1 shl bits }) throw IllegalArgumentException("tokens outside [0, 2^$bits)")
        val (h, w) = Pair(tokens.h, tokens.w)
        var s = state
        if (s == null) {
            if (h !in 1..Trl.MAX_GRID_SIDE || w !in 1..Trl.MAX_GRID_SIDE) {
                throw IllegalArgumentException("a ${h}x$w token frame: sides of 1 to ${Trl.MAX_GRID_SIDE}")
            }
            put(header(h, w))
            s = TrlStream.State(h, w, bits, keep = false)
            state = s
        } else if (h != s.h || w != s.w) {
            throw IllegalArgumentException("a ${h}x$w token frame in a file of ${s.h}x${s.w}")
        }
        if ((s.t + buffered + tokens.t).toLong() * h * w > Trl.MAX_TOKENS || s.frames + frames > Trl.MAX_FRAMES) {
            throw TokenreelException("more than a .trl holds (${Trl.MAX_TOKENS} tokens); encode a shorter or smaller clip")
        }
        buffer.add(Pair(tokens, frames))
        buffered += tokens.t
        while (buffered >= chunkFrames) chunk(chunkFrames)
    }

    /** Code what is buffered, write the end chunk -> bytes written. The stream is left open. */
    fun close(): Long {
        if (closed) return bytes
        val s = state ?: throw TokenreelException("nothing to write (no latent frames)")
        while (buffered > 0) chunk(chunkFrames)
        if (s.frames < 1) throw IllegalArgumentException("a .trl stands for at least 1 video frame")
        put(record(TrlStream.KIND_END, 0, 0, s.t.toLong(), s.frames, s.chunks.toLong()))
        out.flush()
        closed = true
        return bytes
    }

    /** The version-2 file header of a grid of [h] x [w] tokens, checked as readers check it (trl._stream_header). */
    private fun header(h: Int, w: Int): ByteArray {
        val header = LinkedHashMap<String, Any?>()
        for ((k, v) in meta) if (k !in Trl.FILE_FIELDS) header[k] = v
        header["grid_hw"] = listOf(h.toLong(), w.toLong())
        val json = Json.write(header).toByteArray(Charsets.UTF_8)
        if (json.size > Trl.MAX_HEADER) throw IllegalArgumentException("the header is ${json.size} bytes, more than ${Trl.MAX_HEADER}")
        val parsed = try { Trl.parseHeader(json, 0, json.size) } catch (e: Json.ParseException) {
            throw TokenreelException("cannot write a .trl: its header would not read back (${e.message})")
        }
        Trl.checkSchema(parsed, "cannot write a .trl", false, Trl.REQUIRED_STREAM)
        return ByteBuffer.allocate(12 + json.size).order(ByteOrder.LITTLE_ENDIAN)
            .put(Trl.MAGIC).put(Trl.VERSION_STREAM.toByte()).put(0).putShort(0).putInt(json.size).put(json).array()
    }

    /** Code the first [n] buffered latent frames (all if fewer) as one chunk, splitting a batch as the format maps frames. */
    private fun chunk(n: Int) {
        val s = state!!
        val plane = s.h * s.w
        val take = TokenGrid(Math.min(n, buffered), s.h, s.w)
        var got = 0
        var frames = 0L
        while (got < take.t) {
            var (tokens, f) = buffer.removeAt(0)
            if (got + tokens.t > take.t) {          // a batch split in two: its head's frames, the rest's
                val t = s.t + got
                val head = Math.min(f, frameStart(t + take.t - got) - frameStart(t))
                val rest = tokens.t - (take.t - got)
                buffer.add(0, Pair(TokenGrid(rest, s.h, s.w, tokens.data.copyOfRange((take.t - got) * plane, tokens.size)), f - head))
                tokens = TokenGrid(take.t - got, s.h, s.w, tokens.data.copyOf((take.t - got) * plane))
                f = head
            }
            System.arraycopy(tokens.data, 0, take.data, got * plane, tokens.size)
            got += tokens.t
            frames += f
        }
        if (s.chunks >= Trl.MAX_CHUNKS) throw TokenreelException("more than ${Trl.MAX_CHUNKS} chunks; write larger chunks")
        val (name, payload) = encode(s, take)
        val planes = Trl.packBits(Trl.toPlanes(take, bits))
        put(record(TrlStream.KIND_FRAMES, 1 + Trl.CHUNK_CODERS.indexOf(name), take.t, frames,
            Trl.planesCrc32(planes, take.t, bits, s.h, s.w), payload.size.toLong()) + payload)
        s.done(take.data, take.t, frames)
        buffered -= take.t
        if (name !in coders) coders.add(name)
    }

    /** A chunk's coder and payload: the smaller that readers accept of those tried, ans-wave on a tie (trl._encode_chunk). */
    private fun encode(s: TrlStream.State, tokens: TokenGrid): Pair<String, ByteArray> {
        var best: Triple<String, ByteArray, IntArray>? = null
        for (name in if (coder == null) Trl.CHUNK_CODERS else listOf(coder)) {
            if (name == Trl.ZSTD && zstd == null) continue       // ans-wave alone without a Zstd
            val counts = s.counts.copyOf()
            val payload = if (name == Trl.ANS_WAVE) AnsWave.encode(tokens, bits, s.prev, counts)
                else zstd!!.compress(Trl.packBits(Trl.toPlanes(tokens, bits)), 19)
            val ok = payload.size <= Trl.maxChunkPayload(tokens.t, bits, s.h, s.w) &&
                (name != Trl.ANS_WAVE || s.admits(tokens.t, payload.size.toLong()))
            if (ok && (best == null || payload.size < best.second.size)) best = Triple(name, payload, counts)
        }
        val (name, payload, counts) = best ?: throw TokenreelException("the ${coder ?: Trl.ANS_WAVE} payload of a " +
            "${tokens.t}x${s.h}x${s.w} chunk would be refused by readers (over the cost bound of ${Trl.ANS_TOKENS_PER_BYTE} " +
            "tokens a byte, or a wave a byte); write it with zstd")
        if (name == Trl.ANS_WAVE) {           // the counts carry on from ans-wave chunks only
            s.counts = counts
            s.spend(tokens.t, payload.size.toLong())
        }
        return Pair(name, payload)
    }

    /** A record's 16 bytes before its payload: kind, coder, n (u16), then three u32. */
    private fun record(kind: Int, coder: Int, n: Int, a: Long, b: Long, c: Long): ByteArray =
        ByteBuffer.allocate(TrlStream.RECORD).order(ByteOrder.LITTLE_ENDIAN).put(kind.toByte()).put(coder.toByte())
            .putShort(n.toShort()).putInt(a.toInt()).putInt(b.toInt()).putInt(c.toInt()).array()

    /** Write [data], then the CRC-32 of every byte of the file before that field. */
    private fun put(data: ByteArray) {
        crc.update(data)
        val seal = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(crc.value.toInt()).array()
        crc.update(seal)
        out.write(data)
        out.write(seal)
        bytes += data.size + 4
    }

    companion object {
        /** The first video frame of latent frame t: frame f is in latent frame 0 if f = 0, else 1 + (f - 1) div 4. */
        fun frameStart(t: Int): Long = if (t == 0) 0L else 1L + 4L * (t - 1)

        /** Video frames of latent frames [t0, t1) of a [total]-frame grid that stands for [frames] (trl._chunk_frames). */
        fun chunkFrames(frames: Long, t0: Int, t1: Int, total: Int): Long {
            val end = if (t1 == total) frames else Math.min(frames, frameStart(t1))
            return Math.max(0L, end - Math.min(frames, frameStart(t0)))
        }
    }
}
