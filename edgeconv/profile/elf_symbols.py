"""The symbol table of an ELF executable: function addresses and sizes, and ARM's code-mode marks.

Read from the ELF file format itself (the System V ABI's ELF chapter; ARM's "ELF for the Arm
Architecture" for the mapping symbols): the section headers, the ``SHT_SYMTAB`` section and the
string table it links to. Only little-endian files are read (every board edgeconv targets).

ARM (32-bit) code mixes A32 and Thumb instructions; the linker keeps *mapping symbols* ``$a``
(A32 from here), ``$t`` (Thumb from here) and ``$d`` (data from here) in the symbol table, and a
Thumb function's own symbol has bit 0 of its value set. :meth:`ElfSymbols.is_thumb` answers from
the mapping symbols, which cover library code too.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

EM_ARM = 40
EM_AARCH64 = 183
_SHT_SYMTAB = 2
_STT_FUNC = 2

# struct formats per ELF class (1: 32-bit, 2: 64-bit): the file header after e_ident, a section
# header, a symbol entry.
_LAYOUT = {
    1: {"header": "<HHIIIIIHHHHHH", "section": "<IIIIIIIIII", "symbol": "<IIIBBH"},
    2: {"header": "<HHIQQQIHHHHHH", "section": "<IIQQQQIIQQ", "symbol": "<IBBHQQ"},
}


@dataclass
class ElfSymbols:
    machine: int
    functions: dict = field(default_factory=dict)  # name -> (address with bit 0 cleared, size)
    _marks: list = field(default_factory=list)     # sorted (address, "a" | "t" | "d")

    def function(self, name: str) -> tuple:
        """``(address, size)`` of a function symbol; a UserError when the program has none."""
        if name not in self.functions:
            raise UserError(f"the program has no function {name}: was it built with -DEC_PROFILE?")
        return self.functions[name]

    def is_thumb(self, address: int) -> bool:
        """Whether the code at ``address`` is Thumb (the last mapping symbol at or before it)."""
        i = bisect.bisect_right(self._marks, (address, "~")) - 1
        return i >= 0 and self._marks[i][1] == "t"


def read_symbols(path) -> ElfSymbols:
    """The function symbols and ARM mapping symbols of the ELF file at ``path``."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] not in _LAYOUT or data[5] != 1:
        raise UserError(f"{path} is not a little-endian ELF file")
    layout = _LAYOUT[data[4]]
    header = struct.unpack_from(layout["header"], data, 16)
    machine, shoff, shentsize, shnum = header[1], header[5], header[10], header[11]
    sections = [struct.unpack_from(layout["section"], data, shoff + i * shentsize) for i in range(shnum)]
    symbols = ElfSymbols(machine)
    for section in sections:
        if section[1] != _SHT_SYMTAB:
            continue
        offset, size, link, entsize = section[4], section[5], section[6], section[9]
        strings = sections[link][4]
        for at in range(offset, offset + size, entsize):
            name_at, value, sym_size, info = _symbol(struct.unpack_from(layout["symbol"], data, at), data[4])
            end = data.index(b"\0", strings + name_at)
            name = data[strings + name_at:end].decode("ascii", "replace")
            if name in ("$a", "$t", "$d") or name.startswith(("$a.", "$t.", "$d.")):
                symbols._marks.append((value, name[1]))
            elif info & 0xF == _STT_FUNC and value:
                symbols.functions[name] = (value & ~1, sym_size)
    symbols._marks.sort()
    return symbols


def _symbol(fields: tuple, elf_class: int) -> tuple:
    """``(name offset, value, size, info)`` from a symbol entry of either class."""
    if elf_class == 1:
        name, value, size, info, _other, _shndx = fields
    else:
        name, info, _other, _shndx, value, size = fields
    return name, value, size, info
