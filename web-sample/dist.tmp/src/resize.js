// Pillow's Image.reduce and one-axis bilinear Image.resize on 8-bit RGB,
// reproduced operation for operation (Pillow's Reduce.c and Resample.c: an
// integer box mean, a bilinear filter in 22-bit fixed point), so BlazeFace
// sees the same input bytes as under the Python runtime (runtime/detect.py,
// BlazeFace.letterbox). Plain ES module; pixels are interleaved with `stride`
// bytes per pixel, the first 3 of which are R, G, B.

const PRECISION_BITS = 22;

function reduceMultiplier(n) {
  // (UINT32)((float)2^32 / (float)(256 * n)), evaluated in float32 as Pillow's division_UINT32
  return Math.trunc(Math.fround(4294967296 / Math.fround(256 * n)));
}

/** Pillow's Image.reduce((fx, fy), box): the rounded mean of each fx x fy block of the box (partial blocks at its end). */
export function reduce(src, width, height, stride, fx, fy, box) {
  const [bx0, by0, bx1, by1] = box;
  const ow = Math.floor((bx1 - bx0 + fx - 1) / fx);
  const oh = Math.floor((by1 - by0 + fy - 1) / fy);
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    const ya = by0 + y * fy;
    const yb = Math.min(ya + fy, by1);
    for (let x = 0; x < ow; x++) {
      const xa = bx0 + x * fx;
      const xb = Math.min(xa + fx, bx1);
      const n = (yb - ya) * (xb - xa);
      const mult = reduceMultiplier(n);
      for (let c = 0; c < 3; c++) {
        let ss = Math.floor(n / 2);
        for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) ss += src[(yy * width + xx) * stride + c];
        out[(y * ow + x) * 3 + c] = Math.floor((ss * mult) / 16777216);
      }
    }
  }
  return { pixels: out, width: ow, height: oh };
}

function coefficients(inSize, in0, in1, outSize) {
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = 1.0 * filterscale;          // bilinear support 1
  const ss = 1.0 / filterscale;
  const bounds = [];
  const kernels = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const w = [];
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const v = t < 1.0 ? 1.0 - t : 0.0;
      w.push(v);
      ww += v;
    }
    const k = w.map((v) => {
      const f = ww !== 0.0 ? v / ww : v;
      return f < 0 ? Math.trunc(-0.5 + f * (1 << PRECISION_BITS)) : Math.trunc(0.5 + f * (1 << PRECISION_BITS));
    });
    bounds.push([xmin, xmax]);
    kernels.push(k);
  }
  return { bounds, kernels };
}

function clip8(ss) {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow's bilinear ImagingResample of RGB bytes (3 per pixel) over a float box into ow x oh. */
export function resample(src, width, height, ow, oh, box) {
  const b = box.map(Math.fround);
  const needH = ow !== width || b[0] !== 0 || b[2] !== ow;
  const needV = oh !== height || b[1] !== 0 || b[3] !== oh;
  const horiz = coefficients(width, b[0], b[2], ow);
  const vert = coefficients(height, b[1], b[3], oh);
  let img = src;
  let w = width;
  let first = 0;
  if (needH) {
    first = vert.bounds[0][0];
    const last = vert.bounds[oh - 1][0] + vert.bounds[oh - 1][1];
    const tmp = new Uint8Array(ow * (last - first) * 3);
    for (let y = 0; y < last - first; y++) {
      for (let x = 0; x < ow; x++) {
        const [xmin, n] = horiz.bounds[x];
        const k = horiz.kernels[x];
        for (let c = 0; c < 3; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let i = 0; i < n; i++) ss += src[((y + first) * width + xmin + i) * 3 + c] * k[i];
          tmp[(y * ow + x) * 3 + c] = clip8(ss);
        }
      }
    }
    img = tmp;
    w = ow;
  }
  if (!needV) return img;
  const out = new Uint8Array(w * oh * 3);
  for (let y = 0; y < oh; y++) {
    const [ymin0, n] = vert.bounds[y];
    const ymin = ymin0 - first;
    const k = vert.kernels[y];
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < n; i++) ss += img[((ymin + i) * w + x) * 3 + c] * k[i];
        out[(y * w + x) * 3 + c] = clip8(ss);
      }
    }
  }
  return out;
}

/**
 * The letterbox scaling of runtime/detect.py (BlazeFace.letterbox): an
 * integer reduce by the whole factor that leaves at least twice the output
 * size, then one bilinear pass per axis, horizontal first, over the box
 * [0, 0, bx, by] of the source. Returns RGB bytes (3 per pixel), ow x oh.
 */
export function scaleBox(pixels, width, height, stride, ow, oh, bx, by) {
  const fx = Math.max(1, Math.trunc(bx / ow / 2.0));
  const fy = Math.max(1, Math.trunc(by / oh / 2.0));
  let img;
  let w = width;
  let h = height;
  if (fx > 1 || fy > 1) {
    const r = reduce(pixels, width, height, stride, fx, fy, [0, 0, width, height]);
    [img, w, h] = [r.pixels, r.width, r.height];
    bx /= fx;
    by /= fy;
  } else {
    img = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) img[i * 3 + c] = pixels[i * stride + c];
  }
  img = resample(img, w, h, ow, h, [0, 0, bx, h]);
  return resample(img, ow, h, ow, oh, [0, 0, ow, by]);
}
