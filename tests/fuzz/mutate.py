"""Seeded mutators: damaged copies of a good input file, and of a recipe's YAML text.

Every mutant is a pure function of (seed key, mutation kind, index) and the seed's bytes: the
random generator is ``numpy.random.default_rng([BASE_SEED, crc32(key), crc32(kind), index])``,
so any single mutant can be rebuilt on its own (``tests/fuzz/run.py --reproduce``).

Examples
--------
>>> a = mutant_bytes(b"energy 7112.5 mu 0.25\\n", "seed.txt", "huge_number", 3)
>>> a == mutant_bytes(b"energy 7112.5 mu 0.25\\n", "seed.txt", "huge_number", 3)
True
>>> mutant_bytes(b"1 2 3\\n", "seed.txt", "empty", 0)
b''
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import numpy as np

#: The base of every mutant's random generator: change it to draw a different set of mutants.
BASE_SEED = 20250717

#: Byte-level mutations of any input file, in the order mutants cycle through them.
FILE_KINDS = ("truncate", "bitflip", "zeros", "ones", "random_block", "duplicate_block",
              "delete_block", "huge_number", "wrong_type", "empty")

#: Text-level mutations of a recipe (YAML), in the order mutants cycle through them.
RECIPE_KINDS = ("delete_key", "type_change", "junk_value", "truncate", "syntax_damage",
                "huge_number", "deep_nesting", "alias_bomb", "bitflip", "empty")

#: What a numeric text field becomes for ``huge_number`` (the last one is longer than
#: Python's 4300-digit limit for ``int(str)``).
HUGE = (b"1e308", b"-1e308", b"nan", b"inf", b"-inf", b"1e999", b"-0", b"9" * 5000)
#: What a numeric text field becomes for ``wrong_type``.
WRONG = (b"abc", b"N/A", b"--", b"", b"1.2.3", b"0x1F", b"true", b"\xff\xfe", b"1,5", b"#",
         b"\t", b"e", b"1e", b"..")

_NUMBER = re.compile(rb"(?<![A-Za-z0-9_.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def generator(key: str, kind: str, index: int) -> np.random.Generator:
    """The random generator of one mutant.

    Parameters
    ----------
    key : str
        The seed's key (family and file name), so that two seeds draw different mutants.
    kind : str
        The mutation.
    index : int
        The mutant's number among those of this seed and kind.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> int(generator("a", "bitflip", 0).integers(1000)) == int(generator("a", "bitflip", 0).integers(1000))
    True
    """
    return np.random.default_rng([BASE_SEED, zlib.crc32(key.encode()), zlib.crc32(kind.encode()),
                                  index])


def _block(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """A random (start, length) inside ``size`` bytes: mostly short, sometimes up to 64 KiB."""
    cap = max(1, min(size, int(rng.choice([8, 64, 512, 4096, 65536]))))
    length = int(rng.integers(1, cap + 1))
    start = int(rng.integers(0, max(1, size - length + 1)))
    return start, length


def _numbers(data: bytes, rng: np.random.Generator, most: int) -> list[re.Match[bytes]]:
    """Up to ``most`` numeric text fields of ``data``, drawn at random, in file order."""
    found = list(_NUMBER.finditer(data))
    if not found:
        return []
    n = min(len(found), int(rng.integers(1, most + 1)))
    picked = rng.choice(len(found), size=n, replace=False)
    return [found[i] for i in sorted(picked)]


def _replace_numbers(data: bytes, rng: np.random.Generator, words: tuple[bytes, ...]) -> bytes:
    """Numeric fields replaced by ``words`` drawn at random (inserted when the file has none)."""
    fields = _numbers(data, rng, 5)
    if not fields:
        at = int(rng.integers(0, len(data) + 1))
        return data[:at] + words[int(rng.integers(len(words)))] + data[at:]
    out, last = [], 0
    for m in fields:
        out += [data[last:m.start()], words[int(rng.integers(len(words)))]]
        last = m.end()
    return b"".join(out) + data[last:]


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[:int(rng.integers(0, max(1, len(data))))]


def _bitflip(data: bytes, rng: np.random.Generator) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(int(rng.choice([1, 1, 2, 4, 8, 32]))):
        i = int(rng.integers(len(buf)))
        buf[i] ^= 1 << int(rng.integers(8))
    return bytes(buf)


def _overwrite(fill: Callable[[np.random.Generator, int], bytes]) -> Callable[..., bytes]:
    def mutate(data: bytes, rng: np.random.Generator) -> bytes:
        if not data:
            return data
        start, length = _block(rng, len(data))
        return data[:start] + fill(rng, length) + data[start + length:]
    return mutate


def _duplicate(data: bytes, rng: np.random.Generator) -> bytes:
    if not data:
        return data
    start, length = _block(rng, len(data))
    at = int(rng.integers(0, len(data) + 1))
    return data[:at] + data[start:start + length] * int(rng.choice([1, 1, 2, 10])) + data[at:]


def _delete(data: bytes, rng: np.random.Generator) -> bytes:
    if not data:
        return data
    start, length = _block(rng, len(data))
    return data[:start] + data[start + length:]


_FILE_MUTATORS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "truncate": _truncate,
    "bitflip": _bitflip,
    "zeros": _overwrite(lambda rng, n: b"\x00" * n),
    "ones": _overwrite(lambda rng, n: b"\xff" * n),
    "random_block": _overwrite(lambda rng, n: rng.bytes(n)),
    "duplicate_block": _duplicate,
    "delete_block": _delete,
    "huge_number": lambda data, rng: _replace_numbers(data, rng, HUGE),
    "wrong_type": lambda data, rng: _replace_numbers(data, rng, WRONG),
    "empty": lambda data, rng: b"",
    "none": lambda data, rng: data,
}


def mutant_bytes(data: bytes, key: str, kind: str, index: int) -> bytes:
    """One damaged copy of a file's bytes.

    Parameters
    ----------
    data : bytes
        The good file (the seed).
    key : str
        The seed's key, as :func:`generator` takes it.
    kind : str
        One of :data:`FILE_KINDS`.
    index : int
        The mutant's number.

    Returns
    -------
    bytes

    Examples
    --------
    >>> seed = b"# header\\n10.0 1.0\\n10.1 2.0\\n"
    >>> len(mutant_bytes(seed, "s.xy", "truncate", 0)) < len(seed)
    True
    >>> mutant_bytes(seed, "s.xy", "zeros", 1) != seed
    True
    """
    return _FILE_MUTATORS[kind](data, generator(key, kind, index))


# ---------------------------------------------------------------- recipes (YAML text)

_KEY_LINE = re.compile(r"^(?P<indent>\s*(?:-\s+)?)(?P<key>[A-Za-z_][\w]*)\s*:(?P<rest>.*)$")
_TYPES = ("[1, 2]", "{a: 1}", '"text"', "true", "null", "-1", "0", "3.5", '""', "[]", "{}",
          "2020-01-01", "~", "[[]]", "0.0", "-0.0001", "1000000000000")
_YAML_HUGE = ("1e308", "-1e308", ".nan", ".inf", "-.inf", "1.0e999", "9" * 5000, "-" + "9" * 400)
_DAMAGE = ("\t", "[", "]", "{", "}", ": :", "&", "*nowhere", "!!python/object/apply:os.system ['true']",
           "%YAML 9.9\n---", "\x00", "\ufeff", "'", '"', "? ", "---\n", "...\n", "- ", "|", ">",
           "!!binary ~~~", "<<: *x", "key: value: other")


def _key_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]


def _value_lines(lines: list[str]) -> list[int]:
    """Lines ``key: value`` with a value on the line (not a block opener)."""
    return [i for i in _key_lines(lines)
            if _KEY_LINE.match(lines[i]).group("rest").split("#")[0].strip()]


def _set_value(lines: list[str], rng: np.random.Generator, values: tuple[str, ...] | list[str]) -> str:
    picks = _value_lines(lines) or _key_lines(lines)
    if not picks:
        return "\n".join(lines) + "\nkey: " + str(values[int(rng.integers(len(values)))]) + "\n"
    i = picks[int(rng.integers(len(picks)))]
    m = _KEY_LINE.match(lines[i])
    lines[i] = f"{m.group('indent')}{m.group('key')}: {values[int(rng.integers(len(values)))]}"
    return "\n".join(lines) + "\n"


def _delete_key(lines: list[str], rng: np.random.Generator) -> str:
    picks = _key_lines(lines)
    if not picks:
        return ""
    i = picks[int(rng.integers(len(picks)))]
    depth = len(lines[i]) - len(lines[i].lstrip())
    end = i + 1
    while end < len(lines) and (not lines[end].strip()
                                or len(lines[end]) - len(lines[end].lstrip()) > depth):
        end += 1
    return "\n".join(lines[:i] + lines[end:]) + "\n"


def _junk(rng: np.random.Generator) -> str:
    alphabet = list("abcXYZ019 -_:/.,;#{}[]*&!|>%@`'\"\\") + ["\u00e9", "\u2603", "\x07", "\t"]
    n = int(rng.choice([1, 5, 40, 2000]))
    return "".join(alphabet[int(k)] for k in rng.integers(0, len(alphabet), n))


def _syntax_damage(lines: list[str], rng: np.random.Generator) -> str:
    i = int(rng.integers(len(lines))) if lines else 0
    damage = _DAMAGE[int(rng.integers(len(_DAMAGE)))]
    how = int(rng.integers(4))
    if not lines:
        return damage
    if how == 0:  # at the start of a line
        lines[i] = damage + lines[i]
    elif how == 1:  # at the end of a line
        lines[i] = lines[i] + damage
    elif how == 2:  # a line indented wrongly
        lines[i] = " " * int(rng.integers(1, 7)) + lines[i]
    else:  # a key given twice
        lines.insert(i, lines[i])
    return "\n".join(lines) + "\n"


def _deep(rng: np.random.Generator) -> str:
    depth = int(rng.choice([50, 500, 5000, 50000]))
    if rng.integers(2):
        return "[" * depth + "1" + "]" * depth
    return "{a: " * depth + "1" + "}" * depth


def _alias_bomb(lines: list[str], rng: np.random.Generator) -> str:
    levels = int(rng.choice([3, 6, 9, 12]))  # 9**levels strings once expanded
    bomb = ['bomb0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    bomb += [f"bomb{k}: &b{k} [{', '.join([f'*b{k - 1}'] * 9)}]" for k in range(1, levels)]
    picks = _value_lines(lines)
    text = "\n".join(lines) + "\n"
    if picks and rng.integers(2):  # the bomb as the value of a real key
        i = picks[int(rng.integers(len(picks)))]
        m = _KEY_LINE.match(lines[i])
        lines[i] = f"{m.group('indent')}{m.group('key')}: *b{levels - 1}"
        text = "\n".join(lines) + "\n"
    return "x-anchors:\n" + "\n".join("  " + b for b in bomb) + "\n" + text


def _recipe_mutator(kind: str) -> Callable[[str, np.random.Generator], str]:
    def by_lines(fn: Callable[[list[str], np.random.Generator], str]) -> Callable[..., str]:
        return lambda text, rng: fn(text.splitlines(), rng)

    return {
        "delete_key": by_lines(_delete_key),
        "type_change": by_lines(lambda lines, rng: _set_value(lines, rng, _TYPES)),
        "junk_value": by_lines(lambda lines, rng: _set_value(lines, rng, [_junk(rng)])),
        "truncate": lambda text, rng: text[:int(rng.integers(0, max(1, len(text))))],
        "syntax_damage": by_lines(_syntax_damage),
        "huge_number": by_lines(lambda lines, rng: _set_value(lines, rng, _YAML_HUGE)),
        "deep_nesting": by_lines(lambda lines, rng: _set_value(lines, rng, [_deep(rng)])),
        "alias_bomb": by_lines(_alias_bomb),
        "empty": lambda text, rng: "",
        "none": lambda text, rng: text,
    }[kind]


def mutant_recipe(text: str, key: str, kind: str, index: int) -> bytes:
    """One damaged copy of a recipe's YAML text, as the bytes of the file to write.

    Parameters
    ----------
    text : str
        The recipe (paths already absolute).
    key : str
        The recipe's key, as :func:`generator` takes it.
    kind : str
        One of :data:`RECIPE_KINDS`.
    index : int
        The mutant's number.

    Returns
    -------
    bytes
        UTF-8 text, except where the mutation writes bytes that are not (``bitflip``).

    Examples
    --------
    >>> text = "name: demo\\nxrd:\\n  npt: 500\\n  unit: 2th_deg\\n"
    >>> mutant_recipe(text, "demo", "empty", 0), mutant_recipe(text, "demo", "none", 0) == text.encode()
    (b'', True)
    >>> mutant_recipe(text, "demo", "huge_number", 2) == mutant_recipe(text, "demo", "huge_number", 2)
    True
    """
    rng = generator(key, kind, index)
    if kind == "bitflip":
        return _bitflip(text.encode(), rng)
    return _recipe_mutator(kind)(text, rng).encode("utf-8", "surrogatepass")
