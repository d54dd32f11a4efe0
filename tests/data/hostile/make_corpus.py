"""Build the hostile-input corpus: truncated, corrupt and adversarial model files, manifests and
certificates, each with the error relucert must give for it.

    python tests/data/hostile/make_corpus.py            # (re)writes the files next to this script
    python tests/data/hostile/make_corpus.py --check    # exit 1 if a committed file differs

Every file is produced from fixed bytes or a fixed seed, so the corpus is reproducible.  ``CASES``
maps each file to ``(reader, error class, regex on the message)``; ``tests/test_hostile_inputs.py``
reads every file in a child process under an address-space limit and a timeout and asserts the
error.  Readers: ``model`` (``relucert.io.load``), ``manifest`` (``relucert.zoo.load_manifest``),
``certificate`` (``relucert.check.check_certificate``).  An error class ``None`` means the file
must load (a positive control next to its hostile twins).
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: name -> (reader, expected error class name or None, regex the message must match)
CASES: dict[str, tuple[str, str | None, str]] = {
    # ---- ONNX -------------------------------------------------------------------------------
    "onnx/ok.onnx": ("model", None, ""),
    "onnx/truncated.onnx": ("model", "ModelFormatError", r"not a valid ONNX file"),
    "onnx/garbage.onnx": ("model", "ModelFormatError", r"not a valid ONNX file"),
    "onnx/empty.onnx": ("model", "ModelFormatError", r"not a valid ONNX file \(no graph\)"),
    "onnx/external_escape.onnx": ("model", "ModelFormatError", r"external data '\.\./\.\./secret\.bin' of tensor 'W0' escapes the model's folder"),
    "onnx/external_absolute.onnx": ("model", "ModelFormatError", r"external data '/etc/passwd' of tensor 'W0' is an absolute path"),
    "onnx/external_truncated.onnx": ("model", "ModelFormatError", r"external data 'short\.bin' of tensor 'W0' is truncated \(8 of 32 bytes\)"),
    "onnx/external_not_utf8.onnx": ("model", "ModelFormatError", r"tensor 'W0' has an external data entry that is not UTF-8 text"),
    "onnx/unknown_elem_type.onnx": ("model", "UnsupportedModelError", r"input 'input' has element type unknown \(75\), expected a float type"),
    "onnx/external_nul.onnx": ("model", "ModelFormatError", r"external data 'zz\\x00z\.bin' of tensor 'W0' holds a NUL character"),
    "onnx/deep_nesting.onnx": ("model", "ModelFormatError", r"not a valid ONNX file \(DecodeError: .*MaxDepth"),
    "onnx/huge_input_dim.onnx": ("model", "ModelFormatError", r"input 'input' would hold 4611686018427387904 elements .* more than the limit"),
    "onnx/huge_initializer_dims.onnx": ("model", "ModelFormatError", r"invalid ONNX model: TensorProto \(tensor name: W0\) raw_data size \(16 bytes\) is too small for the declared shape"),
    "onnx/cyclic.onnx": ("model", "ModelFormatError", r"the graph has a cycle \(through node 'a' \(Relu\)\)"),
    "onnx/opset_3.onnx": ("model", "UnsupportedModelError", r"opset 3 is not supported \(supported: 8 to \d+\)"),
    "onnx/opset_9999.onnx": ("model", "UnsupportedModelError", r"opset 9999 is not supported"),
    "onnx/nan_weight.onnx": ("model", "ModelFormatError", r"initializer 'W0' holds a non-finite value nan at index \(1, 0\)"),
    "onnx/inf_weight_float16.onnx": ("model", "ModelFormatError", r"initializer 'b0' holds a non-finite value inf at index \(1,\)"),
    "onnx/inf_constant_node.onnx": ("model", "ModelFormatError", r"output 'k' holds a non-finite value -inf"),
    "onnx/overflow_fold.onnx": ("model", "ModelFormatError", r"node 'big' \(Mul\): produces non-finite coefficients"),
    "onnx/rank_70_reshape.onnx": ("model", "ModelFormatError", r"node 'deep' \(Reshape\): gives a tensor of rank 70, more than the limit of 24"),
    "onnx/rank_100_input.onnx": ("model", "UnsupportedModelError", r"input 'input' has rank 100, more than the limit"),
    "onnx/tile_bomb.onnx": ("model", "ModelFormatError", r"node 'bomb' \(Tile\): would create 2000000000 elements"),
    "onnx/unsupported_op.onnx": ("model", "UnsupportedModelError", r"node 's' \(Sigmoid\): operator Sigmoid is not supported"),
    "onnx/string_weight.onnx": ("model", "ModelFormatError", r"node 'add' \(Add\): an operand has dtype object, expected numbers"),
    # ---- .nnet --------------------------------------------------------------------------------
    "nnet/ok.nnet": ("model", None, ""),
    "nnet/truncated.nnet": ("model", "ModelFormatError", r"truncated\.nnet:\d+: file ends before the weights of neuron 0 of layer 1 \(truncated\?\)"),
    "nnet/nan_weight.nnet": ("model", "ModelFormatError", r"nan_weight\.nnet:10: non-finite value 'nan' in the weights of neuron 1 of layer 0"),
    "nnet/overflow_literal.nnet": ("model", "ModelFormatError", r"overflow_literal\.nnet:10: non-finite value '1e999'"),
    "nnet/hex_float.nnet": ("model", "ModelFormatError", r"hex_float\.nnet:9: '0x1p3' in the weights of neuron 0 of layer 0 is not a number"),
    "nnet/huge_sizes.nnet": ("model", "ModelFormatError", r"the weights would hold \d+ elements .* more than the limit"),
    "nnet/huge_layer_count.nnet": ("model", "ModelFormatError", r"huge_layer_count\.nnet:1: numLayers=1000000000 is implausibly large"),
    "nnet/negative_size.nnet": ("model", "ModelFormatError", r"layer sizes \[2, -3, 1\] must be >= 1"),
    "nnet/binary.nnet": ("model", "ModelFormatError", r"binary\.nnet:1: not a text \.nnet file \(byte 0x89\)"),
    "nnet/extra_data.nnet": ("model", "ModelFormatError", r"extra_data\.nnet:15: unexpected data after the last layer"),
    # ---- .npz ---------------------------------------------------------------------------------
    "npz/ok.npz": ("model", None, ""),
    "npz/pickled_object.npz": ("model", "ModelFormatError", r"cannot read array 'W0': Object arrays cannot be loaded when allow_pickle=False"),
    "npz/truncated.npz": ("model", "ModelFormatError", r"not a readable \.npz archive"),
    "npz/not_a_zip.npz": ("model", "ModelFormatError", r"not a readable \.npz archive"),
    "npz/huge_header_v1.npz": ("model", "ModelFormatError", r"array 'W0' would hold 10000000000 elements"),
    "npz/huge_header_v3.npz": ("model", "ModelFormatError", r"array 'W0' would hold 10000000000 elements"),
    "npz/total_too_large.npz": ("model", "ModelFormatError", r"the arrays would hold 300050000 elements in total, more than the limit"),
    "npz/nan_bias.npz": ("model", "ModelFormatError", r"array 'b0' holds a non-finite value nan at index \(2,\)"),
    "npz/complex.npz": ("model", "ModelFormatError", r"array 'W0' has dtype complex128, expected real numbers"),
    "npz/bool.npz": ("model", "ModelFormatError", r"array 'W0' has dtype bool, expected real numbers"),
    "npz/path_member.npz": ("model", "ModelFormatError", r"unexpected array '\.\./W0'"),
    "npz/bad_compression.npz": ("model", "ModelFormatError", r"array 'W0' has a corrupt header: That compression method is not supported"),
    "npz/encrypted.npz": ("model", "ModelFormatError", r"array 'W0' has a corrupt header: File 'W0\.npy' is encrypted"),
    "npz/chain_mismatch.npz": ("model", "ModelFormatError", r"array 'W1' has 4 columns but 'W0' has 3 rows"),
    # ---- zoo manifests ------------------------------------------------------------------------
    "manifest/ok.toml": ("manifest", None, ""),
    "manifest/syntax.toml": ("manifest", "ManifestError", r"syntax\.toml:4: TOML syntax error"),
    "manifest/unknown_field.toml": ("manifest", "ManifestError", r"unknown_field\.toml:7: job 1 \('x'\): unknown field 'epsilon' in \[\[job\]\]"),
    "manifest/eps_string.toml": ("manifest", "ManifestError", r"eps_string\.toml:6: job 1 \('x'\): eps must be a number, got eps='0\.1'"),
    "manifest/eps_nan.toml": ("manifest", "ManifestError", r"eps_nan\.toml:6: job 1 \('x'\): eps must be finite, got eps=nan"),
    "manifest/seed_float.toml": ("manifest", "ManifestError", r"seed_float\.toml:8: job 1 \('x'\): seed must be an integer, got seed=1\.5"),
    "manifest/timeout_bool.toml": ("manifest", "ManifestError", r"timeout_bool\.toml:8: job 1 \('x'\): timeout must be a number, got timeout=True"),
    "manifest/job_not_table.toml": ("manifest", "ManifestError", r"job_not_table\.toml:1: jobs must be written as \[\[job\]\] tables"),
    "manifest/not_utf8.toml": ("manifest", "ManifestError", r"not_utf8\.toml: not a UTF-8 text file"),
    "manifest/top_level_key.toml": ("manifest", "ManifestError", r"top_level_key\.toml:1: unknown field 'jobs' in the manifest"),
    "manifest/deep_array.toml": ("manifest", "ManifestError", r"deep_array\.toml"),
    "manifest/template_width.toml": ("manifest", "ManifestError", r"template_width\.toml:\d+: job 1 .*: name: bad template .*is not allowed"),
    "manifest/template_attribute.toml": ("manifest", "ManifestError", r"template_attribute\.toml:\d+: job 1 .*: name: bad template .*is not allowed"),
    # ---- certificates -------------------------------------------------------------------------
    "cert/not_json.json": ("certificate", "CertificateError", r"not_json\.json: not valid JSON"),
    "cert/empty.json": ("certificate", "CertificateError", r"empty\.json: not valid JSON"),
    "cert/array.json": ("certificate", "CertificateError", r"array\.json: a certificate must be a JSON object"),
    "cert/float_number.json": ("certificate", "CertificateError", r"float_number\.json: numbers must be rational strings like \"-3/8\", not the JSON number 0\.1"),
    "cert/infinity.json": ("certificate", "CertificateError", r"not the JSON number Infinity"),
    "cert/huge_int.json": ("certificate", "CertificateError", r"huge_int\.json: not valid JSON: Exceeds the limit"),
    "cert/deep_nesting.json": ("certificate", "CertificateError", r"deep_nesting\.json: not valid JSON"),
    "cert/not_utf8.json": ("certificate", "CertificateError", r"not_utf8\.json: not valid JSON"),
    "cert/wrong_format.json": ("certificate", "CertificateError", r"certificate\.format must be 'relucert-certificate'"),
    "cert/wrong_version.json": ("certificate", "CertificateError", r"unsupported certificate version 99"),
    "cert/bad_digest.json": ("certificate", "CertificateError", r"networks\.f\.sha256 must be 64 lowercase hex digits"),
    "cert/missing_model.json": ("certificate", "MissingModelError", r"networks\.f: model file '\.\./\.\./nowhere/f\.npz' not found"),
}


# -- ONNX ------------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb(num: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _deep_onnx(levels: int) -> bytes:
    """A model whose graph nests ``levels`` graph attributes (written by hand: the protobuf
    runtime refuses to build messages deeper than its limit of 100)."""
    graph = b""
    for _ in range(levels):
        attr = _pb(1, b"body") + _varint(20 << 3) + _varint(5) + _pb(6, graph)   # type GRAPH, g
        node = _pb(1, b"x") + _pb(2, b"y") + _pb(4, b"Identity") + _pb(5, attr)
        graph = _pb(1, node) + _pb(2, b"g")
    return _varint(1 << 3) + _varint(8) + _pb(8, _pb(1, b"") + _varint(2 << 3) + _varint(13)) + _pb(7, graph)


def _onnx_models() -> dict[str, bytes]:
    import onnx
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    def model(nodes, inits, *, in_shape=(1, 2), out_shape=(1, 2), opset=13, elem=TP.DOUBLE):
        g = h.make_graph(nodes, "hostile", [h.make_tensor_value_info("input", elem, list(in_shape))],
                         [h.make_tensor_value_info("output", elem, list(out_shape) if out_shape else ["n"])],
                         initializer=inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="relucert-hostile")
        m.ir_version = 8
        return m

    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([0.25, -1.0])

    def dense(Wv=W, bv=b, **kw):
        return model([h.make_node("Gemm", ["input", "W0", "b0"], ["output"], name="fc", transB=1)],
                     [nh.from_array(Wv, "W0"), nh.from_array(bv, "b0")], **kw)

    out: dict[str, bytes] = {}
    ok = dense().SerializeToString()
    out["ok.onnx"] = ok
    out["truncated.onnx"] = ok[: len(ok) // 2]
    out["garbage.onnx"] = np.random.default_rng(9).integers(0, 256, 600, dtype=np.uint8).tobytes()
    out["empty.onnx"] = b""
    out["deep_nesting.onnx"] = _deep_onnx(300)

    def external(loc, length=32):
        m = dense()
        t = m.graph.initializer[0]
        t.ClearField("raw_data")
        t.ClearField("double_data")
        t.data_location = TP.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
        return m.SerializeToString()

    out["external_escape.onnx"] = external("../../secret.bin")
    out["external_absolute.onnx"] = external("/etc/passwd")
    out["external_truncated.onnx"] = external("short.bin")
    # invalid UTF-8 in a protobuf string field (found by fuzz_onnx.py): protobuf returns bytes
    out["external_not_utf8.onnx"] = external("zzzz.bin").replace(b"zzzz.bin", b"\xff\xfe\xfd\xfc.bin")
    out["external_nul.onnx"] = external("zz\0z.bin")   # found by fuzz_onnx.py
    m = dense()
    m.graph.input[0].type.tensor_type.elem_type = 75   # no such data type (found by fuzz_onnx.py)
    out["unknown_elem_type.onnx"] = m.SerializeToString()
    out["huge_input_dim.onnx"] = model([h.make_node("Relu", ["input"], ["output"])], [],
                                       in_shape=(1, 2**62), out_shape=(1, 2**62)).SerializeToString()
    big = TP(name="W0", data_type=TP.DOUBLE, dims=[10**6, 10**6], raw_data=b"\0" * 16)
    out["huge_initializer_dims.onnx"] = model(
        [h.make_node("Gemm", ["input", "W0", "b0"], ["output"], name="fc", transB=1)],
        [big, nh.from_array(b, "b0")]).SerializeToString()
    out["cyclic.onnx"] = model(
        [h.make_node("Relu", ["input_plus"], ["t"], name="a"), h.make_node("Add", ["input", "t"], ["input_plus"], name="b"),
         h.make_node("Identity", ["t"], ["output"], name="c")], []).SerializeToString()
    out["opset_3.onnx"] = dense(opset=3).SerializeToString()
    out["opset_9999.onnx"] = dense(opset=9999).SerializeToString()
    Wn = W.copy()
    Wn[1, 0] = np.nan
    out["nan_weight.onnx"] = dense(Wv=Wn).SerializeToString()
    m16 = model([h.make_node("Add", ["input", "b0"], ["output"], name="add")],
                [nh.from_array(np.array([1.0, np.inf], dtype=np.float16), "b0")], elem=TP.FLOAT16)
    out["inf_weight_float16.onnx"] = m16.SerializeToString()
    out["inf_constant_node.onnx"] = model(
        [h.make_node("Constant", [], ["k"], name="k", value=nh.from_array(np.array([-np.inf, 0.0]), "kv")),
         h.make_node("Add", ["input", "k"], ["output"], name="add")], []).SerializeToString()
    huge = nh.from_array(np.array([1e200, 1e200]), "s")
    out["overflow_fold.onnx"] = model(
        [h.make_node("Mul", ["input", "s"], ["t"], name="bigger"), h.make_node("Mul", ["t", "s"], ["output"], name="big")],
        [huge]).SerializeToString()
    out["rank_70_reshape.onnx"] = model(
        [h.make_node("Reshape", ["input", "shape"], ["output"], name="deep")],
        [nh.from_array(np.array([2] + [1] * 69, dtype=np.int64), "shape")], out_shape=None).SerializeToString()
    out["rank_100_input.onnx"] = model([h.make_node("Relu", ["input"], ["output"])], [],
                                       in_shape=(1,) * 100, out_shape=(1,) * 100).SerializeToString()
    out["tile_bomb.onnx"] = model(
        [h.make_node("Tile", ["c", "r"], ["t"], name="bomb"), h.make_node("Add", ["input", "t"], ["output"], name="add")],
        [nh.from_array(np.ones((1, 2)), "c"), nh.from_array(np.array([1, 10**9], dtype=np.int64), "r")]).SerializeToString()
    out["unsupported_op.onnx"] = model([h.make_node("Sigmoid", ["input"], ["output"], name="s")], []).SerializeToString()
    out["string_weight.onnx"] = model(
        [h.make_node("Add", ["input", "c"], ["output"], name="add")],
        [h.make_tensor("c", TP.STRING, [2], [b"1", b"2"])]).SerializeToString()
    for name, data in out.items():  # every model but the corrupt ones must parse as a protobuf
        if name not in ("truncated.onnx", "garbage.onnx", "empty.onnx", "deep_nesting.onnx"):
            onnx.ModelProto.FromString(data)
    return out


# -- .nnet -----------------------------------------------------------------------------------------

_NNET_OK = """// a 2-2-1 network
2,2,1,2,
2,2,1,
0,
-1,-1,
1,1,
0,0,0,
1,1,1,
1.0,-2.0,
0.5,3.0,
0.25,
-1.0,
1.5,-0.5,
0.125,
"""


def _nnet_files() -> dict[str, bytes]:
    lines = _NNET_OK.splitlines()
    out = {"ok.nnet": _NNET_OK}
    out["truncated.nnet"] = "\n".join(lines[:12]) + "\n"
    bad = list(lines)
    bad[9] = "0.5,nan,"
    out["nan_weight.nnet"] = "\n".join(bad) + "\n"
    bad = list(lines)
    bad[9] = "1e999,3.0,"
    out["overflow_literal.nnet"] = "\n".join(bad) + "\n"
    bad = list(lines)
    bad[8] = "0x1p3,-2.0,"
    out["hex_float.nnet"] = "\n".join(bad) + "\n"
    out["huge_sizes.nnet"] = "3,2,1,100000,\n2,100000,100000,1,\n0,\n" + "\n".join(["0,0,"] * 4) + "\n"
    out["huge_layer_count.nnet"] = "1000000000,2,1,2,\n"
    out["negative_size.nnet"] = "2,2,1,3,\n2,-3,1,\n"
    out["extra_data.nnet"] = _NNET_OK + "7,7,\n"
    enc = {k: v.encode("ascii") for k, v in out.items()}
    enc["binary.nnet"] = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
    return enc


# -- .npz ------------------------------------------------------------------------------------------

def _npy_header(shape, descr="<f8", version=1) -> bytes:
    """A raw ``.npy`` header of the given format version (numpy writes v3 only for odd dtypes)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    pre = 10 if version == 1 else 12
    text += b" " * (64 - (pre + len(text) + 1) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return buf.getvalue()


def _patch_members(data: bytes, *, method: int | None = None, flags: int | None = None) -> bytes:
    """Rewrite the compression method / flag bits of every member, in the local and the central
    headers (what a corrupt or an encrypted archive looks like to zipfile)."""
    buf = bytearray(data)
    for sig, off_flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = buf.find(sig)
        while i >= 0:
            if flags is not None:
                buf[i + off_flags:i + off_flags + 2] = struct.pack("<H", flags)
            if method is not None:
                buf[i + off_flags + 2:i + off_flags + 4] = struct.pack("<H", method)
            i = buf.find(sig, i + 4)
    return bytes(buf)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


class _Canary:
    """Unpickling this creates the file HOSTILE_PICKLE_RAN in the current folder: the test
    asserts it never appears."""

    def __reduce__(self):
        return (open, ("HOSTILE_PICKLE_RAN", "w"))


def _npz_files() -> dict[str, bytes]:
    W0, b0 = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.25, -1.0])
    W1, b1 = np.array([[1.5, -0.5]]), np.array([0.125])
    good = {"W0.npy": _npy(W0), "b0.npy": _npy(b0), "W1.npy": _npy(W1), "b1.npy": _npy(b1)}
    out = {"ok.npz": _zip(good)}
    obj = np.empty((2, 2), dtype=object)
    obj[0, 0] = _Canary()
    out["pickled_object.npz"] = _zip({"W0.npy": _npy(obj), "b0.npy": _npy(b0)})
    out["truncated.npz"] = out["ok.npz"][:-40]
    out["not_a_zip.npz"] = b"PK\x03\x04 definitely not a zip archive"
    for v in (1, 3):
        out[f"huge_header_v{v}.npz"] = _zip({"W0.npy": _npy_header((10**5, 10**5), version=v) + b"\0" * 64,
                                             "b0.npy": _npy_header((10**5,), version=v) + b"\0" * 64})
    # four layers each within the per-array limit, too many together (data left out: refused first)
    tot = {}
    for k in range(4):
        tot[f"W{k}.npy"] = _npy_header((10**4, 10**4)) + b"\0" * 64
        tot[f"b{k}.npy"] = _npy_header((10**4,)) + b"\0" * 64
    tot["W0.npy"] = _npy_header((10**4, 1)) + b"\0" * 64
    out["total_too_large.npz"] = _zip(tot)
    out["nan_bias.npz"] = _zip({"W0.npy": _npy(np.ones((3, 2))), "b0.npy": _npy(np.array([0.0, 1.0, np.nan]))})
    out["complex.npz"] = _zip({"W0.npy": _npy(W0.astype(complex)), "b0.npy": _npy(b0)})
    out["bool.npz"] = _zip({"W0.npy": _npy(W0 > 0), "b0.npy": _npy(b0)})
    out["path_member.npz"] = _zip({"../W0.npy": _npy(W0), "b0.npy": _npy(b0)})
    out["bad_compression.npz"] = _patch_members(out["ok.npz"], method=99)   # found by fuzz_npz.py
    out["encrypted.npz"] = _patch_members(out["ok.npz"], flags=1)
    out["chain_mismatch.npz"] = _zip({"W0.npy": _npy(np.ones((3, 2))), "b0.npy": _npy(np.zeros(3)),
                                      "W1.npy": _npy(np.ones((1, 4))), "b1.npy": _npy(np.zeros(1))})
    return out


# -- manifests --------------------------------------------------------------------------------------

def _manifest_files() -> dict[str, bytes]:
    job = '[[job]]\nname = "x"\nf = "../npz/ok.npz"\ng = "../npz/ok.npz"\n'
    out = {
        "ok.toml": "# fine\n" + job + 'eps = 0.1\nbox = "-1:1,-1:1"\n',
        "syntax.toml": '[[job]]\nname = "x"\nf = "a.npz"\neps = = 0.1\n',
        "unknown_field.toml": "# typo\n" + job + 'box = "-1:1,-1:1"\nepsilon = 0.1\n',
        "eps_string.toml": "# string\n" + job + 'eps = "0.1"\nbox = "-1:1,-1:1"\n',
        "eps_nan.toml": "# nan\n" + job + 'eps = nan\nbox = "-1:1,-1:1"\n',
        "seed_float.toml": "# seed\n" + job + 'eps = 0.1\nbox = "-1:1,-1:1"\nseed = 1.5\n',
        "timeout_bool.toml": "# timeout\n" + job + 'eps = 0.1\nbox = "-1:1,-1:1"\ntimeout = true\n',
        "job_not_table.toml": 'job = "everything"\n',
        "top_level_key.toml": 'jobs = 3\n',
        # 20 000 nested arrays: tomllib recurses once per level
        "deep_array.toml": "[defaults]\nbox = " + "[" * 20000 + "]" * 20000 + "\n",
        # a 10**12-character field width in a name template (would allocate a terabyte)
        "template_width.toml": '[[job]]\nname = "{stem:>999999999999}"\nf = "../npz/o*.npz"\n'
                               'box = "-1:1,-1:1"\ntransform = "fan-wide"\n',
        # attribute access in a name template reaches Python objects
        "template_attribute.toml": '[[job]]\nname = "{stem.__class__.__mro__}"\nf = "../npz/o*.npz"\n'
                                   'box = "-1:1,-1:1"\ntransform = "fan-wide"\n',
    }
    enc = {k: v.encode("utf-8") for k, v in out.items()}
    enc["not_utf8.toml"] = b'[[job]]\nname = "\xff\xfe"\n'
    return enc


# -- certificates ------------------------------------------------------------------------------------

def _cert_files() -> dict[str, bytes]:
    sha = "0" * 64
    base = {"format": "relucert-certificate", "version": 1,
            "networks": {"f": {"file": "../../nowhere/f.npz", "sha256": sha},
                         "g": {"file": "../../nowhere/g.npz", "sha256": sha}},
            "claim": {"kind": "eps", "eps": "1/10", "box": {"lo": ["-1"], "hi": ["1"]}},
            "result": "proved", "proof": {"kind": "bab"}}

    def doc(**changes):
        d = json.loads(json.dumps(base))
        for k, v in changes.items():
            d[k] = v
        return json.dumps(d, indent=1)

    bad_digest = json.loads(json.dumps(base))
    bad_digest["networks"]["f"]["sha256"] = "XYZ"
    out = {
        "not_json.json": '{"format": "relucert-certificate", ',
        "empty.json": "",
        "array.json": "[1, 2, 3]",
        "float_number.json": '{"format": "relucert-certificate", "version": 1, "eps": 0.1}',
        "infinity.json": '{"eps": Infinity}',
        "huge_int.json": '{"version": ' + "9" * 5000 + "}",
        "deep_nesting.json": '{"a": ' + "[" * 20000 + "]" * 20000 + "}",
        "wrong_format.json": doc(format="relucert-proof"),
        "wrong_version.json": doc(version=99),
        "bad_digest.json": json.dumps(bad_digest),
        "missing_model.json": doc(),
    }
    enc = {k: v.encode("utf-8") for k, v in out.items()}
    enc["not_utf8.json"] = b'{"format": "\xff"}'
    return enc


def build() -> dict[str, bytes]:
    """Every corpus file, by path relative to this folder."""
    files: dict[str, bytes] = {}
    for folder, make in (("onnx", _onnx_models), ("nnet", _nnet_files), ("npz", _npz_files),
                         ("manifest", _manifest_files), ("cert", _cert_files)):
        for name, data in make().items():
            files[f"{folder}/{name}"] = data
    files["onnx/short.bin"] = b"\0" * 8   # the external data file of external_truncated.onnx
    missing = sorted(set(CASES) - set(files))
    extra = sorted(k for k in files if k not in CASES and not k.endswith(".bin"))
    if missing or extra:
        raise SystemExit(f"CASES and the built files differ: missing {missing}, unlisted {extra}")
    return files


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    files = build()
    if "--check" in argv:
        bad = [n for n, d in files.items() if not (HERE / n).is_file() or (HERE / n).read_bytes() != d]
        for n in bad:
            print(f"differs: {n}")
        return 1 if bad else 0
    for name, data in files.items():
        p = HERE / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total} bytes, to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
