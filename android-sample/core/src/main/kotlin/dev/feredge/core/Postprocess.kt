package dev.feredge.core

/** Model output to labelled probabilities. */
object Postprocess {
    data class Result(val label: String, val index: Int, val probabilities: FloatArray)

    /** Dequantize a uint8 output tensor with its own scale and zero point. */
    fun dequantizeUint8(raw: ByteArray, scale: Float, zeroPoint: Int): FloatArray =
        FloatArray(raw.size) { ((raw[it].toInt() and 0xff) - zeroPoint) * scale }

    /** Dequantize an int8 output tensor. */
    fun dequantizeInt8(raw: ByteArray, scale: Float, zeroPoint: Int): FloatArray =
        FloatArray(raw.size) { (raw[it].toInt() - zeroPoint) * scale }

    /** Probabilities below this are raised to it before temperature scaling (as runtime/contract.py). */
    const val CALIBRATION_FLOOR = 1.0 / 512

    /**
     * Temperature scaling, as fer-edge's Python runtime applies it
     * (`runtime.contract.calibrate`): softmax(log(max(p, floor)) / T). The top label never changes.
     */
    fun calibrate(probabilities: FloatArray, temperature: Double): FloatArray {
        if (temperature == 1.0) return probabilities
        val z = DoubleArray(probabilities.size) { Math.log(maxOf(probabilities[it].toDouble(), CALIBRATION_FLOOR)) / temperature }
        var m = z[0]
        for (v in z) if (v > m) m = v
        val e = DoubleArray(z.size) { Math.exp(z[it] - m) }
        val sum = e.sum()
        return FloatArray(e.size) { (e[it] / sum).toFloat() }
    }

    /** The top label; checks that the output is a probability vector (softmax inside the model). */
    fun label(probabilities: FloatArray, c: Contract, tolerance: Float = 0.05f): Result {
        require(probabilities.size == c.labels.size) { "model gives ${probabilities.size} outputs for ${c.labels.size} labels" }
        val sum = probabilities.sum()
        require(Math.abs(sum - 1f) <= tolerance && probabilities.all { it >= -1e-6f }) { "output is not a probability vector (sum $sum)" }
        var best = 0
        for (i in probabilities.indices) if (probabilities[i] > probabilities[best]) best = i
        return Result(c.labels[best], best, probabilities)
    }
}
