"""Weights files: JSON (to edit by hand), npz (never with pickle) and safetensors.

Reading checks every shape and number and names the file and the problem; writing is
atomic. What the weights mean (sizes, seeded values) lives in weights.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from attncli.errors import AttnError, Names, reworded
from attncli.files import (
    MAX_INPUT_BYTES,
    MAX_JSON_WEIGHTS,
    atomic_write,
    check_memory,
    check_regular,
    parse_json,
    read_bytes,
)
from attncli.weights import MAX_HEADS, HeadWeights, WeightSet, size_problem

FORMATS = (".json", ".npz", ".safetensors")
NAME_KEYS = ("dims", "qk_dims", "v_dims")  # names of the d_model, d_k and d_v dimensions
REFUSED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


# ---------------------------------------------------------------- reading files


SAMPLES = Path(__file__).parent.parent / "sample_weights"  # shipped inside the package


class _InAFile(Names):
    """A weights file's sizes, named by what in the file sets each."""

    SET_BY = {"d_model": "d_model (the rows of w_q)", "d_k": "d_k (the columns of w_q)",
              "d_v": "d_v (the columns of w_v)", "heads": "the number of heads"}

    def __call__(self, role: str) -> str:
        return self.SET_BY.get(role) or super().__call__(role)


IN_A_FILE = _InAFile()


def sample(path: Path) -> Path:
    """sample_weights/NAME, found in the package when there is no such file here, so that the
    examples in --help and the README work from any folder."""
    if path.parent != Path("sample_weights"):
        return path
    shipped = SAMPLES / path.name
    try:
        return shipped if not path.exists() and shipped.is_file() else path
    except OSError:  # a name too long, a folder without search permission: read_bytes says
        return path


def load(path: str | Path) -> WeightSet:
    """Read a weights file, by its suffix, and check every shape and number."""
    path = sample(Path(path))
    suffix = path.suffix.lower()
    if suffix in REFUSED:
        raise AttnError(f"{path}: {suffix} files are pickles, which can run code; refused")
    if suffix not in FORMATS:
        raise AttnError(f"{path}: unknown weights format {suffix or '(no suffix)'}; "
                        f"use {', '.join(FORMATS)}")
    if suffix == ".safetensors":
        _check_safetensors_sizes(path)
    data = read_bytes(path, what="weights file",
                      limit=MAX_JSON_WEIGHTS if suffix == ".json" else MAX_INPUT_BYTES)
    if suffix == ".json":
        raw = _from_json(path, data)
    elif suffix == ".npz":
        raw = _from_npz(path, data)
    else:
        raw = _from_safetensors(path, data)
    return _validate(path, raw)


def _from_json(path: Path, data: bytes) -> dict:
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise AttnError(f"{path}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise AttnError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise AttnError(f"{path}: expected a JSON object with w_q, w_k and w_v")
    mats: dict[str, Any]  # each of w_q, w_k, w_v: a matrix, a list of them, or None
    if "heads" in doc:
        heads = doc["heads"]
        if not isinstance(heads, list) or not heads or not all(isinstance(h, dict) for h in heads):
            raise AttnError(f"{path}: 'heads' must be a non-empty list of {{w_q, w_k, w_v}}")
        mats = {key: [h.get(key) for h in heads] for key in ("w_q", "w_k", "w_v")}
    else:
        mats = {key: doc.get(key) for key in ("w_q", "w_k", "w_v")}
    return {**doc, **mats}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _from_npz(path: Path, data: bytes) -> dict:
    import io
    import zipfile

    try:
        _check_npz_sizes(path, data)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise AttnError(f"{path}: holds pickled objects, which can run code; refused") from None
        raise AttnError(f"{path}: not a valid npz file ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise AttnError(f"{path}: not a valid npz file ({exc})") from None
    return _from_arrays(path, arrays, metadata={
        key: arrays.pop(key).tolist() for key in ("vocab", *NAME_KEYS, "description")
        if key in arrays
    })


def _check_npz_sizes(path: Path, data: bytes) -> None:
    """What an npz would unpack to, from its zip directory and each array's .npy header, checked
    against the memory budget before any array is read: a small file can declare terabytes."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        total = 0
        for info in archive.infolist():
            total += info.file_size  # what the member inflates to
            with archive.open(info) as member:
                try:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                except (ValueError, OSError, EOFError):
                    continue  # np.load will name what is wrong with it
            total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    check_memory(total, f"{path}: its arrays")


def _check_safetensors_sizes(path: Path) -> None:
    """What a safetensors weights file needs, from its header alone, against the memory budget
    before the file is read: its bytes, the arrays they are copied into, and the float64
    matrices those become. A small sparse file can declare gigabytes."""
    from attncli.models.checkpoint import DTYPE_BYTES, read_header

    check_regular(path, "weights file")
    header, _ = read_header(path)
    total = path.stat().st_size
    for info in header.values():
        count = math.prod(info["shape"])
        total += count * (DTYPE_BYTES.get(info["dtype"], 8) + 8)
    check_memory(total, f"{path}: its tensors")


def _from_safetensors(path: Path, data: bytes) -> dict:
    from safetensors.numpy import load as st_load

    try:
        arrays = st_load(data)
    except Exception as exc:  # the Rust side raises its own error types
        raise AttnError(f"{path}: not a valid safetensors file ({exc})") from None
    meta = _safetensors_metadata(data, path)  # also refuses a tensor named twice
    decoded = {}
    for key in ("vocab", *NAME_KEYS):
        if key in meta:
            decoded[key] = parse_json(meta[key], str(path), f"metadata {key!r}")
    if "description" in meta:
        decoded["description"] = meta["description"]
    return _from_arrays(path, arrays, metadata=decoded)


def _safetensors_metadata(data: bytes, path: Path) -> dict[str, str]:
    size = int.from_bytes(data[:8], "little")
    header = parse_json(data[8 : 8 + size], str(path), "safetensors header", unique_keys=True)
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _from_arrays(path: Path, arrays: dict[str, np.ndarray], metadata: dict) -> dict:
    """npz and safetensors keep the table as a (vocab, d_model) matrix and a vocab list."""
    for key in ("w_q", "w_k", "w_v", "w_o", "b_o", "embeddings"):
        if key in arrays and arrays[key].dtype.kind not in "biuf":  # no complex, dates, text
            raise AttnError(f"{path}: {key!r} must hold real numbers, not {arrays[key].dtype}")
    raw: dict = {key: arrays.get(key) for key in ("w_q", "w_k", "w_v", "w_o", "b_o")}
    for key in ("w_q", "w_k", "w_v"):
        if raw[key] is not None and raw[key].ndim == 3:  # (heads, rows, cols)
            raw[key] = list(raw[key])
    table = arrays.get("embeddings")
    vocab = metadata.get("vocab")
    if (table is None) != (vocab is None):
        raise AttnError(f"{path}: 'embeddings' and 'vocab' must come together")
    if table is not None:
        if not isinstance(vocab, list) or table.ndim != 2 or len(vocab) != table.shape[0]:
            raise AttnError(f"{path}: 'embeddings' must have one row per 'vocab' entry")
        raw["embeddings"] = {str(word): row for word, row in zip(vocab, table, strict=True)}
    for key in NAME_KEYS:
        if key in metadata:
            raw[key] = metadata[key]
    if "description" in metadata:
        raw["description"] = metadata["description"]
    return raw


def _matrix(path: Path, name: str, value: object) -> np.ndarray:
    """A finite 2-D float64 matrix, or a clear error naming the file and the key."""
    if value is None:
        raise AttnError(f"{path}: missing {name!r}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise AttnError(f"{path}: {name!r} must be a matrix of numbers") from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise AttnError(f"{path}: {name!r} must be a non-empty 2-D matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise AttnError(f"{path}: {name!r} holds NaN or infinite values")
    return arr


def _validate(path: Path, raw: dict) -> WeightSet:
    w_q, w_k, w_v = (raw.get(key) for key in ("w_q", "w_k", "w_v"))
    if isinstance(w_q, list) and w_q and isinstance(w_q[0], (list, np.ndarray)) and _is_stack(w_q):
        n_heads = len(w_q)
        if not (isinstance(w_k, list) and isinstance(w_v, list)) or not (
            len(w_k) == len(w_v) == n_heads
        ):
            raise AttnError(f"{path}: w_q, w_k and w_v must hold the same number of heads")
        triples = [(f"w_q[{h}]", w_q[h], f"w_k[{h}]", w_k[h], f"w_v[{h}]", w_v[h])
                   for h in range(n_heads)]
    else:
        triples = [("w_q", w_q, "w_k", w_k, "w_v", w_v)]
    if len(triples) > MAX_HEADS:
        raise AttnError(f"{path}: {len(triples)} heads, more than the limit of {MAX_HEADS}")
    heads: list[HeadWeights] = []
    for nq, q, nk, k, nv, v in triples:
        mq, mk, mv = _matrix(path, nq, q), _matrix(path, nk, k), _matrix(path, nv, v)
        if mq.shape != mk.shape:
            raise AttnError(f"{path}: {nq} is {_shape(mq)} but {nk} is {_shape(mk)}; "
                            "they must match (d_model×d_k)")
        if mv.shape[0] != mq.shape[0]:
            raise AttnError(f"{path}: {nv} has {mv.shape[0]} rows but {nq} has {mq.shape[0]}; "
                            "both need d_model rows")
        if heads and (mq.shape != heads[0].w_q.shape or mv.shape != heads[0].w_v.shape):
            raise AttnError(f"{path}: every head must have the same shapes ({nq} differs)")
        heads.append(HeadWeights(mq, mk, mv))
    d_model, d_k, d_v = heads[0].w_q.shape[0], heads[0].w_q.shape[1], heads[0].w_v.shape[1]
    problem = size_problem(d_model, d_k, d_v, len(heads))
    if problem:
        raise AttnError(f"{path}: {reworded(problem, IN_A_FILE)}")

    embeddings = None
    if raw.get("embeddings") is not None:
        table = raw["embeddings"]
        if not isinstance(table, dict) or not table:
            raise AttnError(f"{path}: 'embeddings' must map each token to {d_model} numbers")
        embeddings = {}
        for word, row in table.items():
            vec = _matrix(path, f"embeddings[{word!r}]", [row])[0]
            if vec.shape != (d_model,):
                raise AttnError(f"{path}: embeddings[{word!r}] has {vec.shape[0]} numbers, "
                                f"but W_Q has d_model = {d_model} rows")
            embeddings[str(word)] = vec
    dims = raw.get("dims")
    if dims is not None:
        if not isinstance(dims, list) or len(dims) != d_model or not all(
            isinstance(d, str) for d in dims
        ):
            raise AttnError(f"{path}: 'dims' must be a list of {d_model} names")
        dims = tuple(dims)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise AttnError(f"{path}: 'description' must be a string")
    qk_dims = _names(path, raw, "qk_dims", d_k, "W_Q's and W_K's columns (d_k)")
    v_dims = _names(path, raw, "v_dims", d_v, "W_V's columns (d_v)")
    w_o = b_o = None
    if raw.get("w_o") is not None:
        w_o = _matrix(path, "w_o", raw["w_o"])
        if w_o.shape != (len(heads) * d_v, d_model):
            raise AttnError(f"{path}: 'w_o' is {_shape(w_o)}; it must be (heads × d_v)×d_model "
                            f"= {len(heads) * d_v}×{d_model}")
    if raw.get("b_o") is not None:
        if w_o is None:
            raise AttnError(f"{path}: 'b_o' needs 'w_o'")
        b_o = _matrix(path, "b_o", [raw["b_o"]])[0]
        if b_o.shape != (d_model,):
            raise AttnError(f"{path}: 'b_o' has {b_o.shape[0]} numbers; it needs d_model = "
                            f"{d_model}")
    return WeightSet(tuple(heads), embeddings, dims, description, source=str(path),
                     qk_dims=qk_dims, v_dims=v_dims, w_o=w_o, b_o=b_o)


def _names(path: Path, raw: dict, key: str, count: int, what: str) -> tuple[str, ...] | None:
    """An optional list of names, one per column: e.g. what each query/key dimension means."""
    names = raw.get(key)
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != count or not all(
        isinstance(d, str) for d in names
    ):
        raise AttnError(f"{path}: {key!r} must be a list of {count} names, one for each of {what}")
    return tuple(names)


def _is_stack(value: list) -> bool:
    """True for a list of matrices (one per head) rather than a single matrix."""
    first = value[0]
    return isinstance(first, np.ndarray) and first.ndim == 2 or (
        isinstance(first, list) and bool(first) and isinstance(first[0], list)
    )


def _shape(arr: np.ndarray) -> str:
    return "×".join(str(s) for s in arr.shape)


# ---------------------------------------------------------------- writing files


def to_json_doc(ws: WeightSet) -> dict:
    """The human-editable JSON form of a weight set."""
    doc: dict = {}
    if ws.description:
        doc["description"] = ws.description
    for key in NAME_KEYS:
        if getattr(ws, key):
            doc[key] = list(getattr(ws, key))
    if ws.embeddings is not None:
        doc["embeddings"] = {word: vec.tolist() for word, vec in ws.embeddings.items()}
    mats = [{"w_q": h.w_q.tolist(), "w_k": h.w_k.tolist(), "w_v": h.w_v.tolist()}
            for h in ws.heads]
    if len(mats) == 1:
        doc.update(mats[0])
    else:
        doc["heads"] = mats
    if ws.w_o is not None:
        doc["w_o"] = ws.w_o.tolist()
    if ws.b_o is not None:
        doc["b_o"] = ws.b_o.tolist()
    return doc


def _readable_json(doc: dict) -> str:
    """Indented JSON with each list of numbers (a vector, a matrix row) on one line."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
                            text)


# a JSON list holding only numbers, as json.dumps(indent=2) spreads it over lines
_NUMBER_LIST = re.compile(r"\[\s*\n\s*((?:-?[0-9][0-9.eE+-]*,?\s*)+?)\s*\]")


def dumps(ws: WeightSet, suffix: str) -> bytes:
    """Serialise a weight set in the format its suffix names."""
    arrays: dict[str, np.ndarray] = {}
    for key in ("w_q", "w_k", "w_v"):
        mats = [getattr(h, key) for h in ws.heads]
        arrays[key] = mats[0] if len(mats) == 1 else np.stack(mats)  # (heads, rows, cols)
    if ws.w_o is not None:
        arrays["w_o"] = ws.w_o  # (heads * d_v, d_model)
    if ws.b_o is not None:
        arrays["b_o"] = ws.b_o  # (d_model,)
    meta: dict[str, str] = {}
    if ws.embeddings is not None:
        arrays["embeddings"] = np.stack(list(ws.embeddings.values()))  # (vocab, d_model)
        meta["vocab"] = json.dumps(list(ws.embeddings), ensure_ascii=False)
    for key in NAME_KEYS:
        if getattr(ws, key):
            meta[key] = json.dumps(list(getattr(ws, key)), ensure_ascii=False)
    if ws.description:
        meta["description"] = ws.description
    if suffix == ".json":
        return (_readable_json(to_json_doc(ws)) + "\n").encode()
    if suffix == ".npz":
        import io

        buf = io.BytesIO()
        entries: dict[str, Any] = {**arrays, **{
            key: np.array(json.loads(v) if key != "description" else v)
            for key, v in meta.items()}}
        np.savez(buf, **entries)
        return buf.getvalue()
    if suffix == ".safetensors":
        from safetensors.numpy import save

        return save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=meta or None)
    raise AttnError(f"unknown weights format {suffix or '(no suffix)'}; use {', '.join(FORMATS)}")


def save(ws: WeightSet, path: str | Path, *, force: bool = False) -> None:
    """Write a weight set atomically; an existing file needs force."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AttnError(f"{path}: unknown weights format {suffix or '(no suffix)'}; "
                        f"use {', '.join(FORMATS)}")
    atomic_write(path, dumps(ws, suffix), force=force)
