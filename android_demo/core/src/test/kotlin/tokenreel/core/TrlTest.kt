package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

class TrlTest {
    private val SHA = "ab".repeat(32)
    private val golden = Golden.runtime()
    private val ansBytes = File(golden, "tokens-ans-ctx.trl").readBytes()
    private val waveBytes = File(golden, "tokens-ans-wave.trl").readBytes()

    private fun goldenTokens(): TokenGrid {
        val nested = Golden.json(File(golden, "tokens.json")) as List<*>
        val t = nested.size
        val h = (nested[0] as List<*>).size
        val w = ((nested[0] as List<*>)[0] as List<*>).size
        return TokenGrid(t, h, w, Golden.flatten(nested).map { it.toInt() }.toIntArray())
    }

    /** The golden file's header less what the writer computes: grid, coder and planes_crc32. */
    private fun goldenMeta(): LinkedHashMap<String, Any?> {
        val meta = LinkedHashMap(Trl.unpack(ansBytes).header)
        for (k in listOf("grid", "coder", "planes_crc32")) assertTrue(k, meta.remove(k) != null)
        return meta
    }

    private fun headerText(packed: ByteArray) =
        String(packed, 12, java.nio.ByteBuffer.wrap(packed).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(8), Charsets.UTF_8)

    /** planes_crc32 as Python computes it: from the grid written, checked by the reader when present, optional on reading. */
    @Test fun planesCrc32() {
        val golden = Trl.unpack(ansBytes).header["planes_crc32"] as Long
        val tokens = goldenTokens()
        assertEquals(golden, Trl.planesCrc32(Trl.packBits(Trl.toPlanes(tokens, 18)), 3, 18, 6, 8))
        // a stale value in the meta (an edit of another file) is replaced by the grid's own
        val stale = goldenMeta(); stale["planes_crc32"] = 12345L
        assertArrayEquals(ansBytes, Trl.pack(tokens, stale, Trl.ANS_CTX))
        val text = headerText(ansBytes)
        assertTrue(text.contains("\"planes_crc32\": $golden"))
        // a header whose planes_crc32 is not the payload's is refused
        assertRefused(withHeader(ansBytes, text.replace("\"planes_crc32\": $golden", "\"planes_crc32\": ${(golden + 1) % (1L shl 32)}")),
            "planes_crc32 differs")
        assertRefused(withHeader(ansBytes, text.replace("\"planes_crc32\": $golden", "\"planes_crc32\": -1")), "planes_crc32")
        // files written before planes_crc32 (no key) still read
        val old = withHeader(ansBytes, text.replace("\"planes_crc32\": $golden, ", ""))
        assertTrue(!headerText(old).contains("planes_crc32"))
        assertEquals(tokens, Trl.unpack(old).tokens)
    }

    @Test fun readsAnsCtx() {
        val file = Trl.unpack(ansBytes)
        assertEquals(goldenTokens(), file.tokens)
        assertEquals("ans-ctx", file.header["coder"])
        assertEquals(18, file.bits)
    }

    @Test fun writesAnsCtxByteIdentical() {
        // the header fields except those the writer computes (planes_crc32 among them: never copied back in)
        val meta = goldenMeta()
        assertArrayEquals(ansBytes, Trl.pack(goldenTokens(), meta, Trl.ANS_CTX))
    }

    @Test fun readsAnsWave() {
        val file = Trl.unpack(waveBytes)
        assertEquals(goldenTokens(), file.tokens)
        assertEquals("ans-wave", file.header["coder"])
        assertEquals(listOf(3L, 6L, 8L), file.header["grid"])
        assertEquals(Trl.unpack(ansBytes).header["planes_crc32"], file.header["planes_crc32"])
    }

    @Test fun writesAnsWaveByteIdentical() {
        val meta = goldenMeta()
        assertArrayEquals(waveBytes, Trl.pack(goldenTokens(), meta, Trl.ANS_WAVE))
        // with no zstd supplied, the writer's choice is ans-wave (trl.DEFAULT_CODERS: ans-wave, zstd)
        assertArrayEquals(waveBytes, Trl.pack(goldenTokens(), meta))
        // with one, the smaller payload: ans-wave's 308 bytes against zstd's 324 stored ones
        assertArrayEquals(waveBytes, Trl.pack(goldenTokens(), meta, zstd = StoredZstd))
    }

    /** ans-wave on grids the golden file does not reach: thin ones (empty waves), 1 and 24 bits, several encoder groups. */
    @Test fun ansWaveRoundTrips() {
        val rng = java.util.Random(7)
        val shapes = listOf(intArrayOf(1, 1, 1, 1), intArrayOf(2, 3, 5, 7), intArrayOf(4, 1, 9, 18), intArrayOf(3, 5, 1, 24),
            intArrayOf(5, 6, 8, 18), intArrayOf(7, 2, 3, 3), intArrayOf(9, 1, 1, 18), intArrayOf(1, 7, 4, 24), intArrayOf(12, 24, 40, 18))
        for ((t, h, w, bits) in shapes.map { it.toList() }) {
            // a moving copy of frame 0 over random bits: the contexts see both structure and noise
            val first = IntArray(h * w) { rng.nextInt(1 shl Math.min(bits, 30)) and ((1 shl bits) - 1) }
            val grid = TokenGrid(t, h, w, IntArray(t * h * w) { p ->
                val (tt, k) = Pair(p / (h * w), p % (h * w))
                if (k % w < w / 2) first[(k + tt) % (h * w)] else rng.nextInt(1 shl Math.min(bits, 30)) and ((1 shl bits) - 1)
            })
            val payload = AnsWave.encode(grid, bits)
            assertEquals("$t x $h x $w, $bits bits", grid, TokenGrid(t, h, w, AnsWave.decode(payload, t, bits, h, w)))
        }
        // 12 x 24 x 40 x 18 bits is 207 360 bits: one group; a grid of several groups (2^20 bits each)
        val big = TokenGrid(30, 32, 64, IntArray(30 * 32 * 64) { p -> if (p % 3 == 0) p % 4099 else rng.nextInt(1 shl 18) })
        val t0 = System.nanoTime()
        val payload = AnsWave.encode(big, 18)
        val t1 = System.nanoTime()
        assertEquals(big, TokenGrid(30, 32, 64, AnsWave.decode(payload, 30, 18, 32, 64)))
        System.err.println("ans-wave, 61 440 tokens of 18 bits: encode ${(t1 - t0) / 1000000} ms, decode ${(System.nanoTime() - t1) / 1000000} ms")
    }

    /** ans-wave's limits (docs/trl-format.md): both cost bounds before decoding, at their edges; the coder empty exactly at the end. */
    @Test fun ansWaveReaderLimits() {
        fun regrid(grid: String) =
            withHeader(waveBytes, headerText(waveBytes).replace(Regex("\"planes_crc32\": \\d+, "), "").replace("\"grid\": [3, 6, 8]", "\"grid\": $grid"))
        fun message(d: ByteArray) = try { Trl.unpack(d, "x.trl"); "" } catch (e: TokenreelException) { e.message!! }
        val p = 308L
        assertEquals(p, waveBytes.size - 24L - headerText(waveBytes).toByteArray().size)
        assertEquals(1331L, AnsWave.waves(666, 1, 1))
        // waves: W + H + 2T - 3 <= p + 1024 (1332); the T x 1 x 1 grids are well inside the token bound
        assertTrue(message(regrid("[667, 1, 1]")), message(regrid("[667, 1, 1]")).contains("a 308-byte ans-wave payload cannot hold a 667x1x1 grid"))
        assertTrue(message(regrid("[666, 1, 1]")), message(regrid("[666, 1, 1]")).contains("holds more than the grid"))
        assertTrue(Trl.ansAdmissible(667, 1, 1, p, Trl.ANS_CTX) && !Trl.ansAdmissible(667, 1, 1, p, Trl.ANS_WAVE))
        // tokens: T*H*W <= 16 p + 16384 (21 312 = 333 x 8 x 8)
        assertTrue(message(regrid("[334, 8, 8]")), message(regrid("[334, 8, 8]")).contains("ans-wave payload cannot hold"))
        assertTrue(message(regrid("[333, 8, 8]")), message(regrid("[333, 8, 8]")).contains("holds more than the grid"))
        assertEquals(goldenTokens(), Trl.unpack(regrid("[3, 6, 8]")).tokens)
        // the payload's words: whole, no zero last word, none left over
        val hlen = headerText(waveBytes).toByteArray().size
        val payload = waveBytes.copyOfRange(12 + hlen + 8, waveBytes.size - 4)
        fun withPayload(pl: ByteArray): ByteArray {
            val buf = java.nio.ByteBuffer.allocate(12 + hlen + 8 + pl.size + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            buf.put(waveBytes, 0, 12 + hlen).putLong(pl.size.toLong()).put(pl)
            val crc = java.util.zip.CRC32(); crc.update(buf.array(), 0, buf.position())
            return buf.putInt(crc.value.toInt()).array()
        }
        assertArrayEquals(waveBytes, withPayload(payload))
        assertTrue(message(withPayload(payload + byteArrayOf(1))).contains("payload does not decode (the ans-wave payload is not whole 32-bit words)"))
        assertTrue(message(withPayload(payload + ByteArray(4))).contains("payload does not decode (the ans-wave payload ends in a zero word)"))
        assertTrue(message(withPayload(byteArrayOf(1, 0, 0, 0) + payload)).contains("holds more than the grid"))
        // a payload that runs out early decodes the rest as 0, which planes_crc32 refuses
        assertTrue(message(withPayload(ByteArray(0))).contains("planes_crc32 differs"))
    }

    /** A writer without zstd refuses an ans-wave file readers would refuse (over a cost bound) rather than write it. */
    @Test fun ansWaveWriterKeepsTheBound() {
        val meta = mapOf("tokenizer" to "t", "tokenizer_sha256" to SHA, "bits" to 1L, "fps" to 25.0, "size" to listOf(8L, 8L), "frames" to 5L)
        val still = TokenGrid(1500, 1, 1)       // 2 999 waves of one zero bit: a few bytes, not one per wave
        try {
            Trl.pack(still, meta)
            fail("wrote an ans-wave payload over the wave bound")
        } catch (e: TokenreelException) {
            assertTrue(e.message!!, e.message!!.contains("ans-wave payload of this 1500x1x1 grid would be refused by readers"))
        }
        assertEquals(still, Trl.unpack(Trl.pack(still, meta, zstd = StoredZstd), zstd = StoredZstd).tokens)
        assertEquals(still, Trl.unpack(Trl.pack(still, meta, Trl.ANS_CTX)).tokens)   // ans-ctx counts only tokens
    }

    @Test fun roundTripsOtherGrids() {
        val rng = java.util.Random(5)
        for (bits in listOf(1, 7, 24)) {
            val grid = TokenGrid(2, 3, 5, IntArray(30) { rng.nextInt(1 shl Math.min(bits, 30)) and ((1 shl bits) - 1) })
            val meta = mapOf("tokenizer" to "t", "tokenizer_sha256" to SHA, "bits" to bits.toLong(), "fps" to 29.97,
                "size" to listOf(40L, 24L), "frames" to 5L)
            assertEquals(grid, Trl.unpack(Trl.pack(grid, meta, Trl.ANS_CTX)).tokens)
        }
    }

    private fun assertRefused(data: ByteArray, fragment: String, zstd: Zstd? = null) {
        try {
            Trl.unpack(data, "x.trl", zstd)
            fail("accepted a bad file ($fragment)")
        } catch (e: TokenreelException) {
            assertTrue("'${e.message}' lacks '$fragment'", e.message!!.contains(fragment))
        }
    }

    @Test fun zstdNeedsADecoder() = assertRefused(File(golden, "tokens-zstd.trl").readBytes(), "no Zstandard decoder")

    @Test fun zstdThroughTheInterface() {
        // a stand-in "compressor" (one Zstandard frame of raw blocks) exercises the bit packing on both sides
        val identity = StoredZstd
        val grid = goldenTokens()
        val meta = mapOf("tokenizer" to "t", "tokenizer_sha256" to SHA, "bits" to 18L, "fps" to 25.0, "size" to listOf(64L, 48L), "frames" to 9L)
        val file = Trl.unpack(Trl.pack(grid, meta, Trl.ZSTD, identity), zstd = identity)
        assertEquals("zstd", file.header["coder"])
        assertEquals(grid, file.tokens)
    }

    /** A real Zstandard frame that stores its data uncompressed: single segment, 4-byte content size, raw blocks. */
    private object StoredZstd : Zstd {
        override fun compress(data: ByteArray, level: Int): ByteArray {
            val out = java.io.ByteArrayOutputStream()
            fun le(v: Long, n: Int) { for (k in 0 until n) out.write(((v ushr (8 * k)) and 0xff).toInt()) }
            le(0xFD2FB528L, 4); out.write(0xA0); le(data.size.toLong(), 4)
            var at = 0
            do {
                val n = Math.min(1 shl 16, data.size - at)
                le(((n.toLong() shl 3) or (if (at + n == data.size) 1L else 0L)), 3)
                out.write(data, at, n); at += n
            } while (at < data.size)
            return out.toByteArray()
        }
        override fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray {
            val out = java.io.ByteArrayOutputStream()
            var at = 9
            while (true) {
                val b = (data[at].toInt() and 0xff) or ((data[at + 1].toInt() and 0xff) shl 8) or ((data[at + 2].toInt() and 0xff) shl 16)
                out.write(data, at + 3, b ushr 3); at += 3 + (b ushr 3)
                if (b and 1 != 0) return out.toByteArray()
            }
        }
    }

    /** The reader limits of docs/trl-format.md: the payload must justify the grid before decoding and decode to exactly it. */
    @Test fun readerLimits() {
        fun regrid(d: ByteArray, grid: String) =
            withHeader(d, headerText(d).replace(Regex("\"planes_crc32\": \\d+, "), "").replace("\"grid\": [3, 6, 8]", "\"grid\": $grid"))
        assertEquals(1 shl 23, Trl.MAX_TOKENS)
        assertRefused(regrid(ansBytes, "[8193, 32, 32]"), "header field 'grid'")
        val plen = java.nio.ByteBuffer.wrap(ansBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(12 + ansBytes[8].toInt().and(0xff) + (ansBytes[9].toInt().and(0xff) shl 8))
        val over = (16 * plen + 16384) / 1024 + 1
        assertRefused(regrid(ansBytes, "[$over, 32, 32]"), "ans-ctx payload cannot hold")
        assertRefused(regrid(ansBytes, "[2, 6, 8]"), "holds more than the grid")
        assertEquals(goldenTokens(), Trl.unpack(regrid(ansBytes, "[3, 6, 8]")).tokens)
        // zstd: the declared content size, checked before decompressing
        val zst = File(golden, "tokens-zstd.trl").readBytes()
        assertRefused(regrid(zst, "[2, 6, 8]"), "declares 324 content size; the grid needs 216 bytes", NeverZstd)
        val hlen = zst[8].toInt().and(0xff) + (zst[9].toInt().and(0xff) shl 8)
        val frame = zst.copyOfRange(12 + hlen + 8, zst.size - 4)
        assertEquals(324L, Trl.zstdFrame(frame))
        for (bad in listOf(frame + byteArrayOf(0), frame.copyOf(frame.size - 1), byteArrayOf(1, 2, 3, 4, 5, 6))) {
            try { Trl.zstdFrame(bad); fail("accepted a bad frame") } catch (e: TokenreelException) { }
        }
        assertEquals(9L + 3 + 5, StoredZstd.compress(ByteArray(5), 19).size.toLong())
        assertEquals(5L, Trl.zstdFrame(StoredZstd.compress(ByteArray(5), 19)))
    }

    /** A Zstandard decoder that must not be reached: the frame's declared size is checked before decompressing. */
    private object NeverZstd : Zstd {
        override fun compress(data: ByteArray, level: Int) = throw AssertionError()
        override fun decompress(data: ByteArray, maxOutputSize: Int): ByteArray = throw AssertionError("decompressed")
    }

    /** tests/golden/bad-trl (tests/bad_trl_cases.py, shared with Python and Swift): each hostile file is refused
     *  with one line that names the check, before any decompression, quickly. */
    @Test fun refusesTheGoldenBadFiles() {
        val folder = File(golden, "bad-trl")
        val index = Golden.json(File(folder, "index.json")) as Map<*, *>
        assertTrue("only ${index.size} bad files", index.size >= 30)
        for ((name, case) in index) {
            val file = File(folder, name as String)
            val fragment = (case as Map<*, *>).str("error")
            val t0 = System.nanoTime()
            try {
                Trl.read(file, NeverZstd)
                fail("$name: accepted (${case["wrong"]})")
            } catch (e: TokenreelException) {
                val m = e.message!!
                assertTrue("$name: '$m' lacks '$fragment'", m.contains(fragment))
                assertTrue("$name: '$m' is not one line about the file", !m.contains('\n') && m.startsWith(file.path))
            }
            assertTrue("$name: took ${(System.nanoTime() - t0) / 1e9} s", System.nanoTime() - t0 < 2_000_000_000L)
        }
    }

    /** The writer checks its header as readers do (trl.pack): it never writes a file they refuse. */
    @Test fun writerChecksTheHeader() {
        val meta = goldenMeta()
        val cases = listOf(Triple("tokenizer_sha256", "ab", "'tokenizer_sha256'"), Triple("fps", Double.POSITIVE_INFINITY, "Infinity"),
            Triple("frames", "9", "'frames'"), Triple("size", listOf(0L, 48L), "'size'"))
        for ((key, value, fragment) in cases) {
            val bad = LinkedHashMap(meta); bad[key] = value
            try {
                Trl.pack(goldenTokens(), bad, Trl.ANS_CTX)
                fail("wrote a header with $key = $value")
            } catch (e: TokenreelException) {
                assertTrue(e.message!!, e.message!!.startsWith("cannot write a .trl: ") && e.message!!.contains(fragment))
            }
        }
    }

    @Test fun refusesDamage() {
        assertRefused(byteArrayOf(1, 2, 3), "wrong magic")
        val version = ansBytes.copyOf(); version[4] = 3
        assertRefused(version, "version 3 is not supported (this reader reads versions 1 and 2)")
        val flipped = ansBytes.copyOf(); flipped[ansBytes.size / 2] = (flipped[ansBytes.size / 2].toInt() xor 1).toByte()
        assertRefused(flipped, "checksum mismatch")
        assertRefused(ansBytes.copyOf(ansBytes.size - 1), "checksum mismatch")
        val huge = mapOf("tokenizer" to "t", "tokenizer_sha256" to SHA, "bits" to 18L, "fps" to 25.0, "size" to listOf(64L, 48L), "frames" to 9L)
        // a header that claims a grid too large to allocate: refused before any allocation
        val packed = Trl.pack(TokenGrid(1, 1, 1), huge, Trl.ANS_CTX)
        val text = String(packed, 12, java.nio.ByteBuffer.wrap(packed).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(8), Charsets.UTF_8)
        val bigger = text.replace("\"grid\": [1, 1, 1]", "\"grid\": [9999, 1024, 1024]")
        assertRefused(withHeader(packed, bigger), "header field 'grid'")
    }

    /** The same file with another header (and a fresh CRC). */
    private fun withHeader(packed: ByteArray, header: String): ByteArray {
        val le = java.nio.ByteOrder.LITTLE_ENDIAN
        val hlen = java.nio.ByteBuffer.wrap(packed).order(le).getInt(8)
        val rest = packed.copyOfRange(12 + hlen, packed.size - 4)
        val hb = header.toByteArray()
        val buf = java.nio.ByteBuffer.allocate(12 + hb.size + rest.size + 4).order(le)
        buf.put(packed, 0, 8).putInt(hb.size).put(hb).put(rest)
        val crc = java.util.zip.CRC32(); crc.update(buf.array(), 0, buf.position())
        buf.putInt(crc.value.toInt())
        return buf.array()
    }

    @Test fun writesAtomically() {
        val dir = createTempDir("trl")
        try {
            val f = File(dir, "a.trl")
            val meta = goldenMeta()
            Trl.write(f, goldenTokens(), meta)
            // version 2, as trl.write (TrlWriterTest pins its bytes); version 1 still reads
            assertArrayEquals(Trl.packStream(goldenTokens(), meta), f.readBytes())
            assertEquals(goldenTokens(), Trl.read(f).tokens)
            assertEquals(listOf("a.trl"), dir.list()!!.toList())
        } finally {
            dir.deleteRecursively()
        }
    }
}
