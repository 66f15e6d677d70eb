"""Reading a checkpoint's tensors: safetensors only, never pickle (hub.py finds it).

A checkpoint is a directory with config.json, tokenizer.json and either
model.safetensors or shards (model-00001-of-00002.safetensors, ...) listed in
model.safetensors.index.json.

Tensors are read one by one, only when a layer needs them, straight from the
file, mapped once (mmap), at the offsets the safetensors header gives: a float32
tensor is the mapped bytes themselves, float16 is converted, and bfloat16 (which
numpy lacks) is shifted into float32's bits; an embedding reads only the rows a
text needs.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
import sys
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attncli.errors import AttnError
from attncli.files import (
    MAX_CONFIG,
    check_json_memory,
    check_memory,
    check_regular,
    parse_json,
    read_bytes,
)
from attncli.models.layers import Packed, widen_bf16

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
NUMPY_DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
                                     "F64": np.dtype("<f8")}
# bytes per number of every dtype the format names (what a declared tensor will take)
DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
               "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
MAX_HEADER = 100_000_000  # the safetensors format's own limit on the JSON header
# where mmap objects can give pages back (not on Windows)
DONTNEED = getattr(mmap, "MADV_DONTNEED", None) if hasattr(mmap.mmap, "madvise") else None
# and where they can ask the kernel to start reading pages in before they are touched
WILLNEED = getattr(mmap, "MADV_WILLNEED", None) if hasattr(mmap.mmap, "madvise") else None
# Linux's MADV_POPULATE_READ (22, since 5.14; Python names it from 3.13): map a range's pages
# at once, far cheaper than a fault per page on first touch
POPULATE = getattr(mmap, "MADV_POPULATE_READ", 22 if sys.platform.startswith("linux") else None) \
    if hasattr(mmap.mmap, "madvise") else None
LAYER_NUMBER = re.compile(r"(?:^|\.)(\d+)\.")  # a tensor name's first number: its layer's
FIRST_LAYERS_BYTES = 256 * 2**20  # what will_need asks for: about what a disk reads while a
# large tokenizer.json is parsed


def read_config(directory: Path) -> dict[str, Any]:
    """config.json as a dict."""
    path = directory / CONFIG
    if not path.is_file():
        raise AttnError(f"{path}: missing (a model directory needs {CONFIG})")
    config = parse_json(read_bytes(path, what="config.json", limit=MAX_CONFIG), str(path))
    if not isinstance(config, dict):
        raise AttnError(f"{path}: expected a JSON object")
    return config


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's header (tensor name -> dtype, shape, offsets) and where data starts."""
    if path.exists():  # a FIFO or a device would hang or never end: only a regular file
        check_regular(path, "safetensors file")
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > MAX_HEADER:
                raise ValueError(f"header of {size} bytes")
            check_json_memory(size, f"{path}: its {size:,}-byte header, parsed,")
            header = parse_json(f.read(size), str(path), "safetensors header", unique_keys=True)
            check_header(header)
            assert isinstance(header, dict)  # check_header refuses anything else
    except FileNotFoundError:
        raise AttnError(f"{path}: missing (listed in {INDEX})") from None
    except (PermissionError, IsADirectoryError) as exc:  # the file is fine; attn may not read it
        raise AttnError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (OSError, ValueError, struct.error) as exc:
        raise AttnError(f"{path}: not a valid safetensors file ({exc})") from None
    header.pop("__metadata__", None)
    return header, 8 + size


def check_header(header: Any) -> None:
    """Each entry names a dtype, a shape and two offsets, or the header is refused."""
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(info, dict) and isinstance(info.get("dtype"), str)
                and _ints(info.get("shape")) and _ints(info.get("data_offsets"))
                and len(info["data_offsets"]) == 2):
            raise ValueError(f"tensor {name!r} lacks a dtype, shape or data_offsets")
    spans = sorted((info["data_offsets"][0], info["data_offsets"][1], name)
                   for name, info in header.items() if name != "__metadata__")
    end, before = 0, ""  # where the tensor before (by first byte) ends, and its name
    for begin, stop, name in spans:
        if stop < begin:
            raise ValueError(f"tensor {name!r} ends before it begins")
        if begin < end:
            raise ValueError(f"the bytes of tensor {name!r} overlap those of {before!r}")
        end, before = stop, name


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and v >= 0 for v in value)


def refuse_pickles(directory: Path) -> None:
    """Name the pickle checkpoint a directory holds instead of safetensors, and stop."""
    shards = sorted(p.name for p in directory.glob("*.safetensors"))
    if shards:
        raise AttnError(f"{directory / INDEX}: missing (it says which shard, such as"
                        f" {shards[0]}, holds which tensor)")
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise AttnError(
            f"{directory / pickles[0]}: a pickle checkpoint; attncli reads only safetensors"
            " (unpickling can run code). Get the model's model.safetensors instead."
        )
    raise AttnError(f"{directory}: no weights ({SINGLE}, or shards listed in {INDEX})")


class Checkpoint:
    """The safetensors files of one model: which file holds which tensor, read on demand."""

    def __init__(self, files: dict[str, Path], source: Path) -> None:
        self.files = files  # tensor name -> the file that holds it
        self.source = source  # model.safetensors or the index: named in errors
        self.headers: dict[Path, tuple[dict[str, Any], int]] = {}
        self.maps: dict[Path, mmap.mmap] = {}
        self.lock = threading.Lock()  # the dicts above, filled from _run's read-ahead too

    @classmethod
    def open(cls, directory: Path) -> Checkpoint:
        """Map tensor names to files from model.safetensors or the shard index; never unpickle."""
        index = directory / INDEX
        if index.is_file():
            try:
                doc = parse_json(read_bytes(index, what="shard index", limit=MAX_CONFIG),
                                 str(index), "shard index")
                if not isinstance(doc, dict):
                    raise TypeError("the index is not a JSON object")
                weight_map = doc["weight_map"]
            except (OSError, KeyError, TypeError) as exc:
                raise AttnError(f"{index}: not a valid shard index ({exc})") from None
            if not isinstance(weight_map, dict) or not all(
                    isinstance(shard, str) for shard in weight_map.values()):
                raise AttnError(f"{index}: not a valid shard index (weight_map must map "
                                "tensor names to file names)")
            for shard in set(weight_map.values()):  # a shard outside the folder is never opened
                # by its name (an HF cache snapshot's files are links into ../../blobs: fine)
                named = os.path.normpath(shard)
                if os.path.isabs(named) or named == ".." or named.startswith(".." + os.sep):
                    raise AttnError(f"{index}: shard {shard[:80]!r} lies outside the model "
                                    "directory; refused")
            files = {name: directory / shard for name, shard in weight_map.items()}
            return cls(files, index)
        single = directory / SINGLE
        if single.is_symlink() and not single.exists():
            raise AttnError(f"{single}: a broken link (to {os.readlink(single)}); an interrupted "
                            "download? fetch the model again")
        if not single.is_file():
            refuse_pickles(directory)
        checkpoint = cls({}, single)
        header, _ = checkpoint.header(single)
        checkpoint.files = dict.fromkeys(header, single)
        return checkpoint

    def header(self, path: Path) -> tuple[dict[str, Any], int]:
        """The parsed header of one file, read once (a layer may be read on another thread)."""
        with self.lock:
            if path not in self.headers:
                self.headers[path] = read_header(path)
            return self.headers[path]

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def first_layers(self, budget: int = FIRST_LAYERS_BYTES) -> list[tuple[Path, int, int]]:
        """Where the first layers' tensors lie: (file, start, end) of each tensor whose name
        holds a number (its layer's: layers.0., h.0., block.0.), the lowest numbers first,
        as many as fit in budget bytes. A file whose header is refused is left out (read()
        refuses it when its tensor is needed)."""
        named: list[tuple[int, int, str, Path]] = []
        for name, path in self.files.items():
            found = LAYER_NUMBER.search(name)
            if found is not None:
                named.append((int(found.group(1)), len(named), name, path))
        spans: list[tuple[Path, int, int]] = []
        total = 0
        for _, _, name, path in sorted(named):
            try:
                header, data_start = self.header(path)
                begin, end = (int(x) for x in header[name]["data_offsets"])
            except (AttnError, KeyError, TypeError, ValueError):
                continue
            if total + end - begin > budget:
                break
            total += end - begin
            spans.append((path, data_start + begin, data_start + end))
        return spans

    def will_need(self, budget: int = FIRST_LAYERS_BYTES) -> int:
        """Ask the kernel to read the first layers' tensors (first_layers) into its page
        cache in the background, and return how many bytes were asked for. Every run starts
        at layer 0, so a file not yet cached is read from disk while this process does other
        work (parses the tokenizer) rather than when each layer is reached. Only a hint:
        nothing is read or checked here."""
        if WILLNEED is None:
            return 0
        asked = 0
        for path, start, end in self.first_layers(budget):
            aligned = start // mmap.PAGESIZE * mmap.PAGESIZE
            try:
                self.mapped(path).madvise(WILLNEED, aligned, end - aligned)
            except (OSError, ValueError):  # past the end of a truncated file: read() says so
                continue
            asked += end - start
        return asked

    def prefix(self, probe: str, prefixes: Sequence[str]) -> str:
        """Which of prefixes ("", "bert.", "model.") the checkpoint puts before its tensor names."""
        for p in prefixes:
            if p + probe in self.files:
                return p
        raise AttnError(f"{self.source}: no tensor {probe!r} (tried prefixes {list(prefixes)})")

    def read(self, name: str, shape: tuple[int, ...], rows: np.ndarray | None = None, *,
             dtype: type = np.float32) -> np.ndarray:
        """One tensor (or some of its rows) as dtype (float32, or float64 for a float64 run),
        after checking its shape.

        A float32 tensor read as float32 is the file's own bytes, mapped, not a copy (read-only;
        its pages leave the process's memory when the array is dropped)."""
        got = self._read(name, shape, rows, packed=False, dtype=dtype)
        assert isinstance(got, np.ndarray)
        return got

    def read_matrix(self, name: str, shape: tuple[int, int], dtype: type = np.float32
                    ) -> np.ndarray | Packed:
        """read(name, shape), except that a bf16 matrix read as float32 is left as stored,
        mapped, for linear to convert as it multiplies (Packed: the transpose of the stored
        matrix); its pages leave the process's memory when it is dropped, as a mapped
        float32 tensor's do."""
        return self._read(name, shape, None, packed=True, dtype=dtype)

    def _read(self, name: str, shape: tuple[int, ...], rows: np.ndarray | None, *,
              packed: bool, dtype: type) -> np.ndarray | Packed:
        path = self.files.get(name)
        if path is None:
            raise AttnError(f"{self.source}: no tensor {name!r}")
        header, data_start = self.header(path)
        info = header.get(name)
        if info is None:
            raise AttnError(f"{path}: no tensor {name!r} (the index says it is there)")
        shape = tuple(shape)
        if tuple(info["shape"]) != shape:
            raise AttnError(f"{path}: tensor {name!r} has shape {tuple(info['shape'])},"
                            f" config.json implies {shape}")
        stored = info["dtype"]
        if stored not in NUMPY_DTYPES and stored != "BF16":
            raise AttnError(f"{path}: tensor {name!r} is {stored}; attncli reads F32, F16 and BF16")
        item = NUMPY_DTYPES.get(stored, np.dtype("<u2"))  # bf16 is read as its raw 16 bits
        begin, end = info["data_offsets"]
        if end - begin != item.itemsize * math.prod(shape):
            raise AttnError(f"{path}: tensor {name!r} has {end - begin} bytes for shape {shape}")
        # the stored numbers read, then converted: both are held at once
        count = math.prod(shape) if rows is None else len(rows) * math.prod(shape[1:])
        check_memory(count * (item.itemsize + np.dtype(dtype).itemsize),
                     f"{path}: tensor {name!r} {'×'.join(map(str, shape))}")
        offset = data_start + begin
        try:
            whole = self.mapped(path)
            raw = np.frombuffer(whole, dtype=item, count=math.prod(shape),
                                offset=offset).reshape(shape)
            if (rows is None and item == np.dtype(dtype) and item.isnative
                    and offset % item.itemsize == 0):
                # the mapped bytes themselves; their pages are given back when the array (and
                # every view of it, whose base it is) goes, though not at exit
                weakref.finalize(raw.base, self._give_back, path, offset,
                                 end - begin).atexit = False
                return raw
            if (packed and stored == "BF16" and rows is None and dtype == np.float32
                    and len(shape) == 2 and offset % 2 == 0):
                weakref.finalize(raw.base, self._give_back, path, offset,
                                 end - begin).atexit = False
                self._populate(path, offset, end - begin)
                return Packed(raw)
            if stored == "BF16" and rows is None:  # straight from the file, into float32s
                picked = widen_bf16(raw, np.zeros(count, dtype=np.uint32))
                picked.flags.writeable = False  # read-only, as a mapped float32 tensor is
            elif stored == "BF16":  # some rows: one shift, into the float32's bits
                picked = np.left_shift(raw[rows], 16, dtype=np.uint32).view(np.float32)
            elif rows is None:
                picked = raw.astype(dtype)  # a copy, aligned and in native byte order
            else:
                picked = raw[rows]  # copies only what is asked
            if rows is None:
                self._give_back(path, offset, end - begin)
        except Exception as exc:  # a truncated or corrupt file (mmap errors, short buffers)
            raise AttnError(f"{path}: cannot read tensor {name!r} ({exc})") from None
        return picked.astype(dtype, copy=False)

    def _populate(self, path: Path, offset: int, size: int) -> None:
        """Map a tensor's pages now, in one call (POPULATE), before they are read."""
        whole = self.maps.get(path)
        if POPULATE is None or whole is None or whole.closed:
            return
        start = offset // mmap.PAGESIZE * mmap.PAGESIZE
        try:
            whole.madvise(POPULATE, start, offset + size - start)
        except (OSError, ValueError):  # an older kernel: pages are mapped as they are read
            pass

    def _give_back(self, path: Path, offset: int, size: int) -> None:
        """The pages of a file's bytes leave the process's memory (the file stays cached), as
        they did when each tensor was unmapped."""
        whole = self.maps.get(path)
        if DONTNEED is None or whole is None or whole.closed:
            return
        start = offset // mmap.PAGESIZE * mmap.PAGESIZE
        whole.madvise(DONTNEED, start, offset + size - start)

    def mapped(self, path: Path) -> mmap.mmap:
        """The whole file, mapped read-only once."""
        with self.lock:
            if path not in self.maps:
                with open(path, "rb") as f:
                    self.maps[path] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            return self.maps[path]
