package tokenreel.core

import java.util.zip.CRC32

/**
 * The reader of version-2 `.trl` files (docs/trl-format.md, "Version 2: a stream of chunks"; trl.py's
 * _read_stream / _read_chunk, whose checks, order and messages it keeps):
 *
 *     file header: magic | version 2 | flags | reserved u16 | header_len u32 | header JSON | crc32 u32
 *     chunks:      'F' | coder u8 | n u16 | frames u32 | planes_crc32 u32 | payload_len u32 | payload | crc32
 *     end chunk:   'E' | 0 u8 | 0 u16 | T u32 | frames u32 | chunks u32 | crc32
 *
 * every crc32 the CRC-32 of all the file's bytes before it. Each record is checked before it is used (kind,
 * coder, n, the chunk and token limits, payload_len against its bound, the ans-wave cost bounds summed over the
 * file's ans-wave chunks, the payload present, its crc32) and only then decoded (ending exactly at its end) and
 * compared with its planes_crc32. ans-wave chunks carry the frame before and the counts over from chunk to chunk.
 * Only a file that ends exactly with an end chunk whose totals match is complete; a partial read returns every
 * complete chunk before the first one missing, cut or bad.
 */
internal object TrlStream {
    const val KIND_FRAMES = 0x46                // 'F'
    const val KIND_END = 0x45                   // 'E'
    const val RECORD = 16               // a record's bytes before its payload (an end chunk's before its crc32)

    /** Where a version-2 file stops being readable, and why (trl.py's _Stop). */
    private open class Stop(why: String) : Exception(why)

    /** A zstd chunk with no Zstandard decoder supplied: a partial read stops there, a strict one says so. */
    private class NoZstd(val chunk: Int) : Stop("chunk $chunk is zstd-compressed and this build has no Zstandard decoder")

    /** The file's bytes in order, at most [Trl.MAX_FILE_STREAM] of them, with the CRC-32 of all read so far (trl._Reader). */
    private class Reader(val data: ByteArray) {
        private val end = Math.min(data.size.toLong(), Trl.MAX_FILE_STREAM).toInt()
        private val crc = CRC32()
        var pos = 0
            private set

        /** Up to n bytes from [pos] (fewer only at the end of the file) -> how many were read. */
        fun take(n: Long): Int {
            val got = Math.min(n, (end - pos).toLong()).toInt()
            crc.update(data, pos, got)
            pos += got
            return got
        }

        /** Read a crc32 field -> "ok", "short" (the file ends in it) or "bad" (not the CRC of what came before). */
        fun sealed(): String {
            val expected = crc.value
            val at = pos
            return if (take(4) < 4) "short" else if (u32(data, at) == expected) "ok" else "bad"
        }
    }

    /**
     * What chunks carry from one to the next (trl._Coding): the frame before, the ans-wave counts (learnt only from
     * ans-wave chunks), the cost budget of the file's ans-wave chunks (trl._Budget) and the totals, for reader and
     * writer alike; [keep]: hold every chunk's tokens (the reader's [grid]).
     */
    class State(val h: Int, val w: Int, val bits: Int, private val keep: Boolean = true) {
        var prev: IntArray? = null
        var counts = IntArray(bits * AnsWave.CONTEXTS * 2) { 1 }
        var t = 0
        var frames = 0L
        var chunks = 0
        val coders = ArrayList<String>()
        val parts = ArrayList<IntArray>()
        private var tokens = 0L
        private var waves = 0L
        private var payload = 0L

        /** The ANS cost bounds over the file's ans-wave chunks so far, this one of [n] frames and [plen] bytes included. */
        fun admits(n: Int, plen: Long): Boolean =
            tokens + n.toLong() * h * w <= Trl.ANS_TOKENS_PER_BYTE * (payload + plen) + Trl.ANS_FREE_TOKENS &&
                waves + AnsWave.waves(n, h, w) <= Trl.WAVES_PER_BYTE * (payload + plen) + Trl.FREE_WAVES

        fun spend(n: Int, plen: Long) {
            tokens += n.toLong() * h * w
            waves += AnsWave.waves(n, h, w)
            payload += plen
        }

        fun done(chunk: IntArray, n: Int, f: Long) {
            if (keep) parts.add(chunk)
            prev = chunk.copyOfRange((n - 1) * h * w, n * h * w)
            t += n
            frames += f
            chunks++
        }

        fun grid(): TokenGrid {
            val data = IntArray(t * h * w)
            var at = 0
            for (p in parts) {
                System.arraycopy(p, 0, data, at, p.size)
                at += p.size
            }
            return TokenGrid(t, h, w, data)
        }
    }

    /** A version-2 file's bytes (magic and version checked) -> its tokens and header, as trl.unpack(data, partial). */
    fun read(data: ByteArray, where: String, zstd: Zstd?, partial: Boolean): TrlFile {
        fun bad(why: String) = TokenreelException("$where: $why; re-encode the video with `tokenreel encode`")
        val r = Reader(data)
        val hlen = if (r.take(12) == 12) u32(data, 8) else Trl.MAX_HEADER + 1L
        val got = if (hlen <= Trl.MAX_HEADER) r.take(hlen) else 0
        if (got < hlen || r.sealed() != "ok") throw bad("truncated or corrupt version 2 header (length or checksum)")
        val parsed = try {
            Trl.parseHeader(data, 12, hlen.toInt())
        } catch (e: Json.ParseException) {
            throw bad("corrupt version 2 header (${e.message})")
        }
        Trl.checkSchema(parsed, where, true, Trl.REQUIRED_STREAM)
        val json = parsed as Map<*, *>
        val (h, w) = json.list("grid_hw").map { (it as Long).toInt() }
        val s = State(h, w, json.int("bits"))
        var complete = false
        var stopped: Stop? = null
        try {
            while (chunk(r, s, zstd)) Unit
            complete = true
        } catch (e: Stop) {
            stopped = e
        }
        val header = LinkedHashMap<String, Any?>()
        for ((k, v) in json) if (k as String !in Trl.FILE_FIELDS) header[k] = v
        header["grid"] = listOf(s.t.toLong(), h.toLong(), w.toLong())
        header["frames"] = s.frames
        header["coder"] = s.coders.joinToString("+")
        if (!complete && !partial) {
            if (stopped is NoZstd) {
                throw TokenreelException("$where: chunk ${stopped.chunk} is zstd-compressed and this build has no Zstandard " +
                    "decoder (pass a Zstd implementation)")
            }
            throw TokenreelException("$where: incomplete .trl: ${stopped!!.message}; ${s.chunks} complete chunk" +
                "${if (s.chunks == 1) "" else "s"} (${s.t} latent frames, ${s.frames} frames) can be read with `tokenreel decode --partial`")
        }
        if (partial) {
            header["version"] = Trl.VERSION_STREAM.toLong()
            header["complete"] = complete
            header["chunks"] = s.chunks.toLong()
            if (!complete) header["stopped"] = stopped!!.message
        }
        return TrlFile(s.grid(), header)
    }

    /** The next record: a frames chunk decoded into [s] (true), a valid end chunk (false), or [Stop]. */
    private fun chunk(r: Reader, s: State, zstd: Zstd?): Boolean {
        val k = s.chunks + 1
        val at = r.pos
        val got = r.take(RECORD.toLong())
        if (got < RECORD) {
            throw Stop(if (got == 0) "the file ends without an end chunk (cut short, or still being written)" else "the file ends in chunk $k")
        }
        val d = r.data
        val kind = d[at].toInt() and 0xff
        val coder = d[at + 1].toInt() and 0xff
        val n = (d[at + 2].toInt() and 0xff) or ((d[at + 3].toInt() and 0xff) shl 8)
        val frames = u32(d, at + 4)
        val crc = u32(d, at + 8)
        val plen = u32(d, at + 12)
        if (kind == KIND_END) {
            val check = r.sealed()
            if (check != "ok") throw Stop("the end chunk is ${if (check == "short") "cut short" else "corrupt (checksum)"}")
            // T, frames, chunks sit where a frames chunk has frames, planes_crc32, payload_len
            if (frames != s.t.toLong() || crc != s.frames || plen != s.chunks.toLong() || coder != 0 || n != 0 || s.frames < 1) {
                throw Stop("the end chunk's totals ($frames latent frames, $crc frames, $plen chunks) are not the file's")
            }
            if (r.take(1) > 0) throw Stop("bytes after the end chunk")
            return false
        }
        val (h, w, bits) = Triple(s.h, s.w, s.bits)
        if (kind != KIND_FRAMES || coder !in 1..Trl.CHUNK_CODERS.size || n < 1) {
            throw Stop("chunk $k is corrupt (kind ${pythonByte(kind)}, coder $coder, $n latent frames)")
        }
        val name = Trl.CHUNK_CODERS[coder - 1]
        if (k > Trl.MAX_CHUNKS || (s.t + n).toLong() * h * w > Trl.MAX_TOKENS || s.frames + frames > Trl.MAX_FRAMES) {
            throw Stop("chunk $k takes the file past the limits (${Trl.MAX_CHUNKS} chunks, ${Trl.MAX_TOKENS} tokens)")
        }
        if (plen > Trl.maxChunkPayload(n, bits, h, w)) {
            throw Stop("chunk $k: a $plen-byte payload is longer than any coder writes for ${n}x${h}x$w tokens")
        }
        if (name == Trl.ANS_WAVE && !s.admits(n, plen)) {
            throw Stop("chunk $k: a $plen-byte ans-wave payload cannot hold ${n}x${h}x$w tokens")
        }
        val start = r.pos
        val check = if (r.take(plen) < plen) "short" else r.sealed()
        if (check != "ok") throw Stop(if (check == "short") "the file ends in chunk $k" else "chunk $k is corrupt (checksum)")
        if (name == Trl.ZSTD && zstd == null) throw NoZstd(k)
        val payload = d.copyOfRange(start, start + plen.toInt())
        val (tokens, planes) = try {
            if (name == Trl.ZSTD) {
                val raw = Trl.decodeZstd(payload, n, bits, h, w, zstd!!)
                Pair(Trl.fromPlanes(Trl.unpackBits(raw, n, bits, h, w), n, bits, h, w).data, raw)
            } else {
                val counts = s.counts.copyOf()
                val tokens = AnsWave.decode(payload, n, bits, h, w, s.prev, counts)
                s.spend(n, plen)
                s.counts = counts
                Pair(tokens, Trl.packBits(Trl.toPlanes(TokenGrid(n, h, w, tokens), bits)))
            }
        } catch (e: RuntimeException) {    // a corrupt payload can fail inside the coder in many ways
            throw Stop("chunk $k does not decode (${e.message ?: e.javaClass.simpleName})")
        }
        if (Trl.planesCrc32(planes, n, bits, h, w) != crc) throw Stop("chunk $k does not decode to its planes (planes_crc32 differs)")
        if (name !in s.coders) s.coders.add(name)
        s.done(tokens, n, frames)
        return true
    }

    private fun u32(d: ByteArray, at: Int): Long =
        (d[at].toLong() and 0xff) or ((d[at + 1].toLong() and 0xff) shl 8) or ((d[at + 2].toLong() and 0xff) shl 16) or
            ((d[at + 3].toLong() and 0xff) shl 24)

    /** A byte as Python's repr of a one-byte bytes object (b'F', b'\x00'), which trl.py's messages show. */
    fun pythonByte(b: Int): String = when {
        b == 0x27 -> "b\"'\""
        b == 0x5c -> "b'\\\\'"
        b == 0x09 -> "b'\\t'"
        b == 0x0a -> "b'\\n'"
        b == 0x0d -> "b'\\r'"
        b in 0x20..0x7e -> "b'${b.toChar()}'"
        else -> "b'\\x${"%02x".format(b)}'"
    }
}
