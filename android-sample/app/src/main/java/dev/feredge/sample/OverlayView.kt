package dev.feredge.sample

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.view.View

/** Boxes, labels, probabilities and inference time drawn over the preview. */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private val box = Paint().apply { style = Paint.Style.STROKE; strokeWidth = 6f; color = Color.rgb(255, 64, 64) }
    private val text = Paint().apply { color = Color.WHITE; textSize = 44f; setShadowLayer(4f, 0f, 0f, Color.BLACK) }
    private var faces: List<FerModel.Face> = emptyList()
    private var sx = 1f
    private var sy = 1f

    fun show(faces: List<FerModel.Face>, imageWidth: Int, imageHeight: Int) {
        this.faces = faces
        sx = width.toFloat() / imageWidth
        sy = height.toFloat() / imageHeight
        postInvalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        for (f in faces) {
            val r = RectF(f.box.left * sx, f.box.top * sy, f.box.right * sx, f.box.bottom * sy)
            canvas.drawRect(r, box)
            canvas.drawText("%s %.2f  %.1f ms".format(f.label, f.probability, f.millis), r.left, r.top - 12f, text)
        }
    }
}
