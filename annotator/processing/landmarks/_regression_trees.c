/* dlib's 68-point shape predictor, read from its model file and evaluated without the GIL.
 *
 * The Python side is annotator/processing/landmarks/regression_trees.py (what the model is,
 * how it is checked against dlib). Two functions:
 *   read(path) -> (initial, cascades, trees, splits, pixels,
 *                  split_pixels, thresholds, leaves, anchors, deltas)
 *       the model's tables as bytes (float32 / int32, C order), read a value at a time from
 *       the file (never the whole file in memory); ValueError names what is wrong.
 *   fit(gray, height, width, left, top, right, bottom, initial, split_pixels, thresholds,
 *       leaves, anchors, deltas, cascades, trees, splits, pixels, out)
 *       the points of the face in the box, written to `out` (float32, x and y of each point).
 *
 * Arithmetic follows dlib's: sums for the similarity transform in double, the transform
 * itself, the feature pixel offsets, the tree comparisons and the shape in float, the
 * placement in the box in double, rounded half up. Built without floating-point contraction
 * (pyproject.toml), so the results are dlib's, bit for bit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VERSION 1
#define AHEAD 8 /* leaves fetched ahead of the one being added */

/* floor(v + 0.5) as an integer: dlib's rounding of a point to a pixel (without a call into
 * the maths library where the processor has no rounding instruction). */
static inline long round_half_up(double v) {
    double shifted = v + 0.5;
    long whole = (long)shifted;
    return whole - (shifted < (double)whole);
}

typedef struct {
    FILE *file;
    const char *problem;
} Reader;

/* One of dlib's variable-length integers: a control byte (low four bits: how many
 * little-endian bytes follow; top bit: negative), then the bytes. */
static int read_integer(Reader *reader, int64_t *value) {
    int control = getc_unlocked(reader->file);
    if (control == EOF) {
        reader->problem = "the file ends inside the model";
        return 0;
    }
    int size = control & 0x0F;
    if (size == 0 || size > 8) {
        reader->problem = "a value of an unknown size";
        return 0;
    }
    uint64_t magnitude = 0;
    for (int k = 0; k < size; ++k) {
        int byte = getc_unlocked(reader->file);
        if (byte == EOF) {
            reader->problem = "the file ends inside the model";
            return 0;
        }
        magnitude |= (uint64_t)byte << (8 * k);
    }
    *value = (control & 0x80) ? -(int64_t)magnitude : (int64_t)magnitude;
    return 1;
}

/* A float: a mantissa and a power of two, both integers. */
static int read_float(Reader *reader, float *value) {
    int64_t mantissa, exponent;
    if (!read_integer(reader, &mantissa) || !read_integer(reader, &exponent))
        return 0;
    if (exponent > 1000 || exponent < -1000) {
        reader->problem = "a number is infinite or not a number";
        return 0;
    }
    *value = (float)ldexp((double)mantissa, (int)exponent);
    return 1;
}

/* An integer that must equal `wanted` (a table's size, a matrix's shape). */
static int expect(Reader *reader, int64_t wanted) {
    int64_t value;
    if (!read_integer(reader, &value))
        return 0;
    if (value != wanted) {
        reader->problem = "a table's size differs from the first one's";
        return 0;
    }
    return 1;
}

static int positive(Reader *reader, int64_t *value, int64_t most) {
    if (!read_integer(reader, value))
        return 0;
    if (*value <= 0 || *value > most) {
        reader->problem = "a table of no entries or too many";
        return 0;
    }
    return 1;
}

/* The model's tables, in the order dlib writes them: the version; the initial shape (a
 * column matrix: minus its rows, -1, then its numbers); the cascades (a count, then each a
 * count of trees, each its splits (a count; two pixel indices and a threshold each) and its
 * leaves (a count; a column matrix each)); then each cascade's anchor indices and deltas (a
 * count, then the values). Every tree has as many splits, every cascade as many trees and
 * feature pixels, as the first; the counts of the first tree are read ahead. */
static PyObject *read_model(Reader *reader) {
    PyObject *initial = NULL, *split_pixels = NULL, *thresholds = NULL, *leaves = NULL;
    PyObject *anchors = NULL, *deltas = NULL, *result = NULL;
    int64_t version, rows, cascades, trees, splits, pixels;
    if (!read_integer(reader, &version))
        goto done;
    if (version != VERSION) {
        reader->problem = "an unknown version";
        goto done;
    }
    if (!read_integer(reader, &rows) || !expect(reader, -1))
        goto done;
    rows = -rows;
    if (rows <= 0 || rows % 2 || rows > 100000) {
        reader->problem = "the initial shape is not a list of points";
        goto done;
    }
    initial = PyBytes_FromStringAndSize(NULL, rows * sizeof(float));
    if (!initial)
        goto done;
    float *shape = (float *)PyBytes_AS_STRING(initial);
    for (int64_t i = 0; i < rows; ++i)
        if (!read_float(reader, &shape[i]))
            goto done;
    if (!positive(reader, &cascades, 1000) || !positive(reader, &trees, 100000)
        || !positive(reader, &splits, 1023))
        goto done;
    int64_t count = cascades * trees;
    if (count * (splits + 1) * rows > ((int64_t)1 << 29)) { /* 2 GB of leaves */
        reader->problem = "tables too large for a shape predictor";
        goto done;
    }
    split_pixels = PyBytes_FromStringAndSize(NULL, count * splits * 2 * sizeof(int32_t));
    thresholds = PyBytes_FromStringAndSize(NULL, count * splits * sizeof(float));
    leaves = PyBytes_FromStringAndSize(NULL, count * (splits + 1) * rows * sizeof(float));
    if (!split_pixels || !thresholds || !leaves)
        goto done;
    int32_t *pair = (int32_t *)PyBytes_AS_STRING(split_pixels);
    float *threshold = (float *)PyBytes_AS_STRING(thresholds);
    float *leaf = (float *)PyBytes_AS_STRING(leaves);
    int64_t most_pixel = 0;
    for (int64_t c = 0; c < cascades; ++c) {
        if (c > 0 && !expect(reader, trees))
            goto done;
        for (int64_t t = 0; t < trees; ++t) {
            if ((c > 0 || t > 0) && !expect(reader, splits))
                goto done;
            for (int64_t s = 0; s < splits; ++s) {
                int64_t first, second;
                if (!read_integer(reader, &first) || !read_integer(reader, &second)
                    || !read_float(reader, threshold++))
                    goto done;
                if (first < 0 || second < 0 || first > INT32_MAX || second > INT32_MAX) {
                    reader->problem = "an index outside its table";
                    goto done;
                }
                *pair++ = (int32_t)first;
                *pair++ = (int32_t)second;
                if (first > most_pixel)
                    most_pixel = first;
                if (second > most_pixel)
                    most_pixel = second;
            }
            if (!expect(reader, splits + 1))
                goto done;
            for (int64_t l = 0; l <= splits; ++l) {
                if (!expect(reader, -rows) || !expect(reader, -1))
                    goto done;
                for (int64_t i = 0; i < rows; ++i)
                    if (!read_float(reader, leaf++))
                        goto done;
            }
        }
    }
    if (!expect(reader, cascades) || !positive(reader, &pixels, 1000000))
        goto done;
    if (most_pixel >= pixels) {
        reader->problem = "an index outside its table";
        goto done;
    }
    anchors = PyBytes_FromStringAndSize(NULL, cascades * pixels * sizeof(int32_t));
    deltas = PyBytes_FromStringAndSize(NULL, cascades * pixels * 2 * sizeof(float));
    if (!anchors || !deltas)
        goto done;
    int32_t *anchor = (int32_t *)PyBytes_AS_STRING(anchors);
    for (int64_t c = 0; c < cascades; ++c) {
        if (c > 0 && !expect(reader, pixels))
            goto done;
        for (int64_t i = 0; i < pixels; ++i) {
            int64_t point;
            if (!read_integer(reader, &point))
                goto done;
            if (point < 0 || point >= rows / 2) {
                reader->problem = "an index outside its table";
                goto done;
            }
            *anchor++ = (int32_t)point;
        }
    }
    if (!expect(reader, cascades))
        goto done;
    float *delta = (float *)PyBytes_AS_STRING(deltas);
    for (int64_t c = 0; c < cascades; ++c) {
        if (!expect(reader, pixels))
            goto done;
        for (int64_t i = 0; i < 2 * pixels; ++i)
            if (!read_float(reader, delta++))
                goto done;
    }
    if (getc_unlocked(reader->file) != EOF) {
        reader->problem = "more data after the model";
        goto done;
    }
    result = Py_BuildValue("(OLLLLOOOOO)", initial, (long long)cascades, (long long)trees,
                           (long long)splits, (long long)pixels, split_pixels, thresholds,
                           leaves, anchors, deltas);
done:
    Py_XDECREF(initial);
    Py_XDECREF(split_pixels);
    Py_XDECREF(thresholds);
    Py_XDECREF(leaves);
    Py_XDECREF(anchors);
    Py_XDECREF(deltas);
    return result;
}

static PyObject *read_file(PyObject *self, PyObject *args) {
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    Reader reader = {fopen(PyBytes_AS_STRING(path), "rb"), NULL};  /* read by this thread alone */
    Py_DECREF(path);
    if (!reader.file)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *model = read_model(&reader);
    fclose(reader.file);
    if (!model && reader.problem && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, reader.problem);
    return model;
}

/* dlib's shape_predictor::operator(): from the mean shape, each cascade reads its feature
 * pixels (placed by the similarity transform from the mean shape to the current one, in the
 * box), walks its trees and adds each tree's leaf; the points are then placed in the box. */
static void fit_points(const uint8_t *restrict gray, Py_ssize_t height, Py_ssize_t width,
                       long left, long top, long right, long bottom,
                       const float *restrict initial, Py_ssize_t n,
                       const int32_t *restrict split_pixels, const float *restrict thresholds,
                       const float *restrict leaves, const int32_t *restrict anchors,
                       const float *restrict deltas, Py_ssize_t cascades, Py_ssize_t trees,
                       Py_ssize_t splits, Py_ssize_t pixels, float *restrict shape,
                       float *restrict values, const float **chosen, float *restrict out) {
    const Py_ssize_t rows = 2 * n;
    memcpy(shape, initial, rows * sizeof(float));
    double mean_x = 0.0, mean_y = 0.0, spread = 0.0;
    for (Py_ssize_t i = 0; i < n; ++i) {
        mean_x += initial[2 * i];
        mean_y += initial[2 * i + 1];
    }
    mean_x /= n;
    mean_y /= n;
    for (Py_ssize_t i = 0; i < n; ++i) {
        double dx = initial[2 * i] - mean_x, dy = initial[2 * i + 1] - mean_y;
        spread += dx * dx + dy * dy;
    }
    spread /= n;
    const double width_scale = (double)(right - left), height_scale = (double)(bottom - top);
    for (Py_ssize_t c = 0; c < cascades; ++c) {
        /* Umeyama's least-squares similarity; in two dimensions its scaled rotation is
         * [[a, -b], [b, a]] of the covariance. */
        double now_x = 0.0, now_y = 0.0;
        for (Py_ssize_t i = 0; i < n; ++i) {
            now_x += shape[2 * i];
            now_y += shape[2 * i + 1];
        }
        now_x /= n;
        now_y /= n;
        double c00 = 0.0, c01 = 0.0, c10 = 0.0, c11 = 0.0;
        for (Py_ssize_t i = 0; i < n; ++i) {
            double tx = shape[2 * i] - now_x, ty = shape[2 * i + 1] - now_y;
            double fx = initial[2 * i] - mean_x, fy = initial[2 * i + 1] - mean_y;
            c00 += tx * fx;
            c01 += tx * fy;
            c10 += ty * fx;
            c11 += ty * fy;
        }
        const float a = (float)((c00 + c11) / n / spread);
        const float b = (float)((c10 - c01) / n / spread);
        const int32_t *anchor = anchors + c * pixels;
        const float *delta = deltas + c * pixels * 2;
        for (Py_ssize_t i = 0; i < pixels; ++i) {
            const float dx = delta[2 * i], dy = delta[2 * i + 1];
            const int32_t k = anchor[i];
            const float px = (a * dx - b * dy) + shape[2 * k];
            const float py = (b * dx + a * dy) + shape[2 * k + 1];
            const long x = round_half_up((double)left + width_scale * (double)px);
            const long y = round_half_up((double)top + height_scale * (double)py);
            if (x >= 0 && x < width && y >= 0 && y < height)
                values[i] = gray[y * width + x];
            else
                values[i] = 0.0f;
        }
        /* Every tree's leaf first, then their sum in tree order: the leaves (4 MB a fit,
         * scattered over 65) are fetched from memory ahead of the adds that need them. */
        const int32_t *pair = split_pixels + c * trees * splits * 2;
        const float *threshold = thresholds + c * trees * splits;
        const float *leaf = leaves + c * trees * (splits + 1) * rows;
        for (Py_ssize_t t = 0; t < trees; ++t) {
            Py_ssize_t node = 0;
            while (node < splits) {
                if (values[pair[2 * node]] - values[pair[2 * node + 1]] > threshold[node])
                    node = 2 * node + 1;
                else
                    node = 2 * node + 2;
            }
            chosen[t] = leaf + (node - splits) * rows;
            pair += 2 * splits;
            threshold += splits;
            leaf += (splits + 1) * rows;
        }
        for (Py_ssize_t t = 0; t < trees; ++t) {
            if (t + AHEAD < trees)
                for (Py_ssize_t j = 0; j < rows; j += 16)
                    __builtin_prefetch(chosen[t + AHEAD] + j);
            const float *restrict change = chosen[t];
            for (Py_ssize_t j = 0; j < rows; ++j)
                shape[j] += change[j];
        }
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
        out[2 * i] = (float)round_half_up((double)left + width_scale * (double)shape[2 * i]);
        out[2 * i + 1] =
            (float)round_half_up((double)top + height_scale * (double)shape[2 * i + 1]);
    }
}

static int sized(Py_buffer *buffer, Py_ssize_t items, Py_ssize_t item, const char *name) {
    if (buffer->len != items * item) {
        PyErr_Format(PyExc_ValueError, "fit: %s holds %zd bytes where %zd were expected",
                     name, buffer->len, items * item);
        return 0;
    }
    return 1;
}

static PyObject *fit(PyObject *self, PyObject *args) {
    Py_buffer gray, initial, split_pixels, thresholds, leaves, anchors, deltas, out;
    Py_ssize_t height, width, cascades, trees, splits, pixels;
    long left, top, right, bottom;
    if (!PyArg_ParseTuple(args, "y*nnlllly*y*y*y*y*y*nnnnw*", &gray, &height, &width, &left,
                          &top, &right, &bottom, &initial, &split_pixels, &thresholds, &leaves,
                          &anchors, &deltas, &cascades, &trees, &splits, &pixels, &out))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = initial.len / (Py_ssize_t)(2 * sizeof(float));
    const Py_ssize_t count = cascades * trees;
    float *work = NULL;
    const float **chosen = NULL;
    if (height <= 0 || width <= 0 || n <= 0) {
        PyErr_Format(PyExc_ValueError, "fit: an empty frame (%zd x %zd) or shape (%zd points)",
                     width, height, n);
        goto done;
    }
    if (!sized(&gray, height * width, 1, "the frame")
        || !sized(&split_pixels, count * splits * 2, sizeof(int32_t), "the split pixels")
        || !sized(&thresholds, count * splits, sizeof(float), "the thresholds")
        || !sized(&leaves, count * (splits + 1) * 2 * n, sizeof(float), "the leaves")
        || !sized(&anchors, cascades * pixels, sizeof(int32_t), "the anchors")
        || !sized(&deltas, cascades * pixels * 2, sizeof(float), "the deltas")
        || !sized(&out, 2 * n, sizeof(float), "the output"))
        goto done;
    work = PyMem_RawMalloc((2 * n + pixels) * sizeof(float));
    chosen = PyMem_RawMalloc(trees * sizeof(float *));
    if (!work || !chosen) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    fit_points(gray.buf, height, width, left, top, right, bottom, initial.buf, n,
               split_pixels.buf, thresholds.buf, leaves.buf, anchors.buf, deltas.buf,
               cascades, trees, splits, pixels, work, work + 2 * n, chosen, out.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(work);
    PyMem_RawFree(chosen);
    PyBuffer_Release(&gray);
    PyBuffer_Release(&initial);
    PyBuffer_Release(&split_pixels);
    PyBuffer_Release(&thresholds);
    PyBuffer_Release(&leaves);
    PyBuffer_Release(&anchors);
    PyBuffer_Release(&deltas);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"read", read_file, METH_VARARGS, "The tables of a dlib shape predictor file."},
    {"fit", fit, METH_VARARGS, "The points of one face, without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_regression_trees",
    "dlib's shape predictor read and evaluated without the GIL (see regression_trees.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__regression_trees(void) { return PyModule_Create(&module); }
