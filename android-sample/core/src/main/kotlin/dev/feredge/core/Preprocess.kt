package dev.feredge.core

/**
 * Face crop to input bytes, bit for bit as fer-edge's Python runtime does it
 * (`runtime/preprocess.py`): 16-bit fixed-point luma, a square crop around the
 * face box by the model's crop rule, and an area filter into size x size.
 */
object Preprocess {
    /** Luma of packed RGB bytes (r, g, b, r, g, b, ...): (R*19595 + G*38470 + B*7471 + 32768) >> 16. */
    fun grayFromRgb(rgb: ByteArray, width: Int, height: Int): ByteArray {
        require(rgb.size == width * height * 3) { "expected ${width * height * 3} RGB bytes" }
        val out = ByteArray(width * height)
        for (i in 0 until width * height) {
            val r = rgb[3 * i].toInt() and 0xff
            val g = rgb[3 * i + 1].toInt() and 0xff
            val b = rgb[3 * i + 2].toInt() and 0xff
            out[i] = ((r * 19595 + g * 38470 + b * 7471 + 32768) ushr 16).toByte()
        }
        return out
    }

    /** Luma of Android-style ARGB ints. */
    fun grayFromArgb(argb: IntArray): ByteArray = ByteArray(argb.size) { i ->
        val p = argb[i]
        (((p shr 16 and 0xff) * 19595 + (p shr 8 and 0xff) * 38470 + (p and 0xff) * 7471 + 32768) ushr 16).toByte()
    }

    /** The square crop (left, top, side, side) around a face box (x, y, w, h). */
    fun cropBox(x: Double, y: Double, w: Double, h: Double, c: Contract): DoubleArray {
        val cx = x + w / 2.0
        val cy = y + h / 2.0 + c.cropShiftY * h
        val side = c.cropScale * maxOf(w, h)
        return doubleArrayOf(cx - side / 2.0, cy - side / 2.0, side, side)
    }

    private fun edges(start: Double, length: Double, size: Int): Pair<IntArray, IntArray> {
        val e = IntArray(size + 1) { k -> Math.floor(start + length * k / size).toInt() }
        val a = IntArray(size) { e[it] }
        val b = IntArray(size) { maxOf(e[it + 1], a[it] + 1) }
        return Pair(a, b)
    }

    /** Area-filter the region (left, top, w, h) of a gray image into size x size; borders replicate. */
    fun cut(gray: ByteArray, width: Int, height: Int, region: DoubleArray, size: Int): ByteArray {
        val (x0, x1) = edges(region[0], region[2], size)
        val (y0, y1) = edges(region[1], region[3], size)
        val out = ByteArray(size * size)
        for (i in 0 until size) for (j in 0 until size) {
            var sum = 0L
            for (yy in y0[i] until y1[i]) {
                val row = minOf(maxOf(yy, 0), height - 1) * width
                for (xx in x0[j] until x1[j]) sum += gray[row + minOf(maxOf(xx, 0), width - 1)].toInt() and 0xff
            }
            val n = (y1[i] - y0[i]).toLong() * (x1[j] - x0[j])
            out[i * size + j] = ((sum + n / 2) / n).toByte()
        }
        return out
    }

    /** The input tensor's bytes for a crop: uint8 as is; int8 minus 128; channels repeated. */
    fun inputBytes(crop: ByteArray, c: Contract): ByteArray {
        val shifted = if (c.inputType == "int8") ByteArray(crop.size) { ((crop[it].toInt() and 0xff) - 128).toByte() } else crop
        if (c.channels == 1) return shifted
        return ByteArray(shifted.size * c.channels) { shifted[it / c.channels] }
    }
}
