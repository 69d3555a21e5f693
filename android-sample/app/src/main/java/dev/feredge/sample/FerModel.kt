package dev.feredge.sample

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Rect
import com.google.ai.edge.litert.Interpreter
import dev.feredge.core.Contract
import dev.feredge.core.Postprocess
import dev.feredge.core.Preprocess
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The release model on the device. Labels, input size and the crop rule come
 * from the model file's metadata through the core module; no constants here.
 */
class FerModel(context: Context, threads: Int = 2) : AutoCloseable {
    private val bytes = context.assets.open("fer_mobilenetv2_int8.tflite").use { it.readBytes() }
    val contract = Contract.fromModel(bytes)
    private val interpreter = Interpreter(
        ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes).rewind() as ByteBuffer,
        Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true),
    )
    private val input = ByteBuffer.allocateDirect(contract.inputSize * contract.inputSize * contract.channels)
    private val outTensor = interpreter.getOutputTensor(0)
    private val output = ByteBuffer.allocateDirect(outTensor.numBytes())

    data class Face(val box: Rect, val label: String, val probability: Float, val millis: Double)

    /** Classify the face in [box] of [frame] (an upright ARGB bitmap). */
    fun classify(frame: Bitmap, box: Rect): Face {
        val t0 = System.nanoTime()
        val w = frame.width
        val h = frame.height
        val argb = IntArray(w * h)
        frame.getPixels(argb, 0, w, 0, 0, w, h)
        val gray = Preprocess.grayFromArgb(argb)
        val region = Preprocess.cropBox(box.left.toDouble(), box.top.toDouble(), box.width().toDouble(),
            box.height().toDouble(), contract)
        val crop = Preprocess.cut(gray, w, h, region, contract.inputSize)
        input.rewind()
        input.put(Preprocess.inputBytes(crop, contract))
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
        output.rewind()
        val raw = ByteArray(output.remaining()).also { output.get(it) }
        val q = outTensor.quantizationParams()
        val probs = Postprocess.calibrate(
            if (contract.inputType == "int8") Postprocess.dequantizeInt8(raw, q.scale, q.zeroPoint)
            else Postprocess.dequantizeUint8(raw, q.scale, q.zeroPoint), contract.temperature)
        val r = Postprocess.label(probs, contract)
        return Face(box, r.label, probs[r.index], (System.nanoTime() - t0) / 1e6)
    }

    override fun close() = interpreter.close()
}
