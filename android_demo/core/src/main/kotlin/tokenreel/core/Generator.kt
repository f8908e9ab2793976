package tokenreel.core

/**
 * The counter-based SplitMix64 generator of docs/sampler.md (`tokenreel-sampler-v1`).
 *
 * All arithmetic is on 64-bit words, wrapping: a Kotlin Long holds the same bits as Python's uint64, and
 * only the shifts (>>>) and the conversion to a double need care to stay unsigned.
 */
class Generator(val key: Long) {
    /** Value i of the stream: mix64(key + (i + 1) * GOLDEN). */
    fun uint64(i: Long): Long = mix64(key + (i + 1) * GOLDEN)

    /** A double in (0, 1): ((value >>> 11) + 0.5) / 2^53; the shift leaves 53 bits, so the conversion is exact. */
    fun uniform(i: Long): Double = ((uint64(i) ushr 11).toDouble() + 0.5) / TWO_POW_53

    /** The key of the sub-stream labelled [label]: mix64(key xor mix64(label * GOLDEN + 1)). */
    fun derive(label: Long): Generator = Generator(mix64(key xor mix64(label * GOLDEN + 1)))

    companion object {
        const val GOLDEN: Long = -0x61c8864680b583ebL          // 0x9E3779B97F4A7C15
        private const val M1: Long = -0x40a7b892e31b1a47L      // 0xBF58476D1CE4E5B9
        private const val M2: Long = -0x6b2fb644ecceee15L      // 0x94D049BB133111EB
        private const val TWO_POW_53 = 9007199254740992.0

        fun mix64(value: Long): Long {
            var x = value
            x = (x xor (x ushr 30)) * M1
            x = (x xor (x ushr 27)) * M2
            return x xor (x ushr 31)
        }
    }
}
