#!/usr/bin/env python3
"""cross/apk.py mkpkg: an apk-tools 3 package (.apk, the "ADB" format) from a staged tree.

    python3 cross/apk.py mkpkg --info KEY:VALUE... [--script TYPE:FILE...] --files DIR
                               --output FILE [--compression deflate|none]

A stand-in for `apk mkpkg` (apk-tools 3.0.5, the version OpenWrt 25.12 builds with) taking
the same options OpenWrt's include/package-pack.mk passes; cross/apk.sh stages the tree and
the scripts the way package-pack.mk does and calls this. The output matches mkpkg's byte for
byte before compression (tests/apk.rs checks it against packages the real mkpkg made, and,
where the real apk is at hand, against mkpkg run on the same staged tree):

  * "ADBd" + raw deflate (level 9, memLevel 8) of the inner file, or the inner file itself
    with --compression none ("ADB." magic).
  * Inner file: "ADB." "pckg", the ADB block (the package database), then one DATA block
    per regular file that is not empty, in path and file order.
  * ADB values are written in mkpkg's order, identical byte runs shared (mkpkg's cache), every
    directory recorded (its default --compat 3.0.0_pre1), all files owned by root:root (as
    under OpenWrt's fakeroot), mtimes SOURCE_DATE_EPOCH when set; info.hashes is the first 20
    bytes of the SHA-256 of the ADB block, computed with those bytes zeroed. No signature:
    installing needs `apk add --allow-untrusted` (OpenWrt signs its index, not the packages).

Why Python and not a Rust crate: packaging is build tooling, so nothing is added to the
daemon's dependency tree or Cargo.lock; python3 is already a dependency of the lab, and its
standard library has exactly what the format needs (zlib's raw deflate, hashlib's SHA-256,
struct). It uses the system zlib, as apk does, so the compressed bytes also match mkpkg's
when both link the same zlib version (tests/apk.rs compares the inflated bytes, which must
always match).

Supported: regular files, symbolic links and directories; depends/provides/replaces with bare
names or name=version. Hard links, device files, extended attributes and triggers are not
(OpenWrt's packages here have none): they are refused with an error, not left out.
"""

import hashlib
import os
import re
import stat
import struct
import sys
import zlib

# Value types (top nibble of a 32-bit ADB value).
TYPE_INT = 0x1
TYPE_INT32 = 0x2
TYPE_INT64 = 0x3
TYPE_BLOB8 = 0x8
TYPE_BLOB16 = 0x9
TYPE_BLOB32 = 0xA
TYPE_OBJECT = 0xE
NULL = 0

BLOCK_ADB = 0
BLOCK_DATA = 2
SCHEMA_PACKAGE = b"pckg"

# Field indexes of the "pckg" schema (apk-tools src/apk_adb.h).
PKG_INFO, PKG_PATHS, PKG_SCRIPTS = 1, 2, 3
INFO_FIELDS = {  # name -> (index, kind)
    "name": (1, "blob"),
    "version": (2, "version"),
    "description": (4, "blob"),
    "arch": (5, "blob"),
    "license": (6, "blob"),
    "origin": (7, "blob"),
    "maintainer": (8, "blob"),
    "url": (9, "blob"),
    "repo-commit": (10, "blob"),
    "build-time": (11, "int"),
    "provider-priority": (14, "int"),
    "depends": (15, "deps"),
    "provides": (16, "deps"),
    "replaces": (17, "deps"),
}
INFO_HASHES, INFO_INSTALLED_SIZE, INFO_MAX = 3, 12, 22
SCRIPTS = {  # script type -> field index
    "trigger": 1,
    "pre-install": 2,
    "post-install": 3,
    "pre-deinstall": 4,
    "post-deinstall": 5,
    "pre-upgrade": 6,
    "post-upgrade": 7,
}
DIR_NAME, DIR_ACL, DIR_FILES = 1, 2, 3
FILE_NAME, FILE_ACL, FILE_SIZE, FILE_MTIME, FILE_HASH, FILE_TARGET = 1, 2, 3, 4, 5, 6
ACL_MODE, ACL_USER, ACL_GROUP = 1, 2, 3
OWNER = b"root"  # OpenWrt packs under fakeroot

UNIQUE_ID_LEN = 20  # info.hashes: a SHA-1-sized prefix of the ADB block's SHA-256
MAX_DATA_BLOCK = (1 << 30) - 4 - 8  # larger needs the extended block header (not written)

# apk's version syntax (apk-tools src/version.c), e.g. 0.1.0-r1, 2025.10.03~12858e28-r1.
VERSION_RE = re.compile(
    r"^[0-9]+(\.[0-9]+)*[a-z]?"
    r"(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*"
    r"(~[0-9a-f]+)?(-r[0-9]+)?$"
)
DEP_NAME_RE = re.compile(r"^[^\s<>=~!]+$")


class PackError(Exception):
    """A package that cannot be written: the message says why."""


class AdbWriter:
    """The ADB block payload as apk's adb_w_* functions lay it out: an 8-byte header
    {compat 0, ver 0, reserved, root}, then values appended with their alignment, identical
    byte runs stored once (a run found at an offset the new alignment does not allow is
    written again and the later copy remembered, as adb_w_data does)."""

    def __init__(self):
        self.buf = bytearray(8)
        self.seen = {}

    def _raw(self, data, align):
        self.buf += bytes(-len(self.buf) % align)
        offset = len(self.buf)
        self.buf += data
        return offset

    def _data(self, data, align):
        offset = self.seen.get(data)
        if offset is not None and offset % align == 0:
            return offset
        offset = self._raw(data, align)
        self.seen[data] = offset
        return offset

    @staticmethod
    def _val(kind, offset):
        if offset >= 1 << 28:
            raise PackError("package metadata over 256 MiB")
        return kind << 28 | offset

    def blob(self, data, cache=True):
        n = len(data)
        if n == 0:
            return NULL
        if n <= 0xFF:
            kind, head, align = TYPE_BLOB8, struct.pack("<B", n), 1
        elif n <= 0xFFFF:
            kind, head, align = TYPE_BLOB16, struct.pack("<H", n), 2
        else:
            kind, head, align = TYPE_BLOB32, struct.pack("<I", n), 4
        write = self._data if cache else self._raw
        return self._val(kind, write(head + data, align))

    def int(self, v):
        if v < 0x10000000:
            return TYPE_INT << 28 | v
        if v < 1 << 32:
            return self._val(TYPE_INT32, self._data(struct.pack("<I", v), 4))
        return self._val(TYPE_INT64, self._data(struct.pack("<Q", v), 4))

    def obj(self, fields):
        """An object or array: fields[0] is unused (the count's slot); trailing NULLs are
        dropped, and one with nothing left is NULL. mkpkg tags arrays OBJECT as well."""
        vals = list(fields[1:])
        while vals and vals[-1] == NULL:
            vals.pop()
        if not vals:
            return NULL
        data = struct.pack("<%dI" % (len(vals) + 1), len(vals) + 1, *vals)
        return self._val(TYPE_OBJECT, self._data(data, 4))

    def array(self, items, key):
        """An array of values sorted by key (apk sorts every schema array on commit)."""
        return self.obj([NULL] + [v for _, v in sorted(zip(key, items), key=lambda kv: kv[0])])

    def set_root(self, value):
        struct.pack_into("<I", self.buf, 4, value)


def block(kind, payload):
    """One block: u32 (type << 30 | 4 + length), the payload, zeros to a multiple of 8."""
    size = 4 + len(payload)
    return struct.pack("<I", kind << 30 | size) + payload + bytes(-size % 8)


def parse_deps(value, field):
    """A space-separated dependency list, as mkpkg's --info takes it: (name, version|None)."""
    deps = []
    for word in value.split():
        name, eq, version = word.partition("=")
        if not DEP_NAME_RE.match(name) or (eq and not VERSION_RE.match(version)):
            raise PackError(f"{field}: '{word}' is not a bare name or name=version")
        deps.append((name.encode(), version.encode() if eq else None))
    return deps


def write_info_field(adb, kind, value, field):
    """One --info value, written as mkpkg's adb_wo_val_fromstring writes it; an empty one
    is left out (OpenWrt passes `--info url:` when a package has no URL)."""
    if value == "":
        return NULL
    if kind == "blob":
        return adb.blob(value.encode())
    if kind == "version":
        if not VERSION_RE.match(value):
            raise PackError(f"version '{value}' is not an apk version (like 1.2.3-r1)")
        return adb.blob(value.encode())
    if kind == "int":
        if not value.isdigit():
            raise PackError(f"{field}: '{value}' is not a number")
        return adb.int(int(value))
    # deps: each dependency object written as parsed, then the sorted, unique array.
    objs, keys = [], []
    for name, version in parse_deps(value, field):
        objs.append(adb.obj([NULL, adb.blob(name), adb.blob(version) if version else NULL]))
        keys.append((name, version or b""))
    unique = {}
    for key, v in zip(keys, objs):
        unique.setdefault(v, key)
    return adb.array(list(unique), list(unique.values()))


def file_entries(directory):
    """The non-directory entries of one directory, sorted by name (bytes)."""
    names = sorted(os.listdir(os.fsencode(directory)))
    return [n for n in names if not stat.S_ISDIR(os.lstat(os.path.join(os.fsencode(directory), n)).st_mode)]


def all_dirs(top):
    """Every directory below top, as relative paths (bytes), sorted; the root is b""."""
    found = []
    for here, dirs, _ in os.walk(os.fsencode(top)):
        dirs.sort()
        rel = os.path.relpath(here, os.fsencode(top))
        if rel != b".":
            found.append(rel)
    return [b""] + sorted(found)


def mtime_of(st):
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(epoch) if epoch else int(st.st_mtime)


def acl(adb, mode):
    return adb.obj([NULL, adb.int(mode), adb.blob(OWNER), adb.blob(OWNER)])


def mkpkg(info, scripts, files_dir, output, compression):
    for required in ("name", "version", "arch"):
        if not info.get(required):
            raise PackError(f"required info field '{required}' not provided")
    adb = AdbWriter()

    # Info fields in schema order (assign_fields); empty values leave the field out.
    info_obj = [NULL] * INFO_MAX
    for field, (index, kind) in sorted(INFO_FIELDS.items(), key=lambda f: f[1][0]):
        if field in info:
            info_obj[index] = write_info_field(adb, kind, info[field], field)

    # Directories, each after its files; data blocks follow the ADB block in the same order.
    paths, data_files, installed_size = [], [], 0
    for rel in all_dirs(files_dir):
        here = os.path.join(os.fsencode(files_dir), rel)
        files = []
        for name in file_entries(here):
            path = os.path.join(here, name)
            st = os.lstat(path)
            target, digest, size = None, None, st.st_size
            if stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    raise PackError(f"{os.fsdecode(path)}: hard links are not supported; copy the file")
                with open(path, "rb") as f:
                    content = f.read()
                digest = hashlib.sha256(content).digest()
                installed_size += size
            elif stat.S_ISLNK(st.st_mode):
                target = struct.pack("<H", stat.S_IFLNK) + os.readlink(path)
            else:
                raise PackError(f"{os.fsdecode(path)}: only files, symlinks and directories are supported")
            fields = [NULL] * 7
            fields[FILE_NAME] = adb.blob(name)
            if digest:
                fields[FILE_HASH] = adb.blob(digest)
            if target:
                fields[FILE_TARGET] = adb.blob(target)
            fields[FILE_MTIME] = adb.int(mtime_of(st))
            fields[FILE_SIZE] = adb.int(size)
            fields[FILE_ACL] = acl(adb, stat.S_IMODE(st.st_mode))
            files.append((name, adb.obj(fields), digest is not None and size > 0, path))
        dir_st = os.lstat(here)
        fields = [NULL] * 4
        fields[DIR_NAME] = adb.blob(rel)
        fields[DIR_ACL] = acl(adb, stat.S_IMODE(dir_st.st_mode))
        fields[DIR_FILES] = adb.array([v for _, v, _, _ in files], [n for n, _, _, _ in files])
        paths.append((rel, adb.obj(fields)))
        data_files.append([(path, has_data) for _, _, has_data, path in files])

    info_obj[INFO_INSTALLED_SIZE] = adb.int(max(installed_size, 1))
    info_obj[INFO_HASHES] = adb.blob(bytes(UNIQUE_ID_LEN), cache=False)
    unique_id_at = (info_obj[INFO_HASHES] & 0x0FFFFFFF) + 1

    package = [NULL] * 6
    package[PKG_INFO] = adb.obj(info_obj)
    package[PKG_PATHS] = adb.array([v for _, v in paths], [n for n, _ in paths])
    if scripts:
        script_obj = [NULL] * 8
        for index in range(1, 8):
            script_obj[index] = adb.blob(scripts.get(index, b""))
        package[PKG_SCRIPTS] = adb.obj(script_obj)
    adb.set_root(adb.obj(package))
    adb.buf[unique_id_at : unique_id_at + UNIQUE_ID_LEN] = hashlib.sha256(adb.buf).digest()[:UNIQUE_ID_LEN]

    out = bytearray(b"ADB." + SCHEMA_PACKAGE)
    out += block(BLOCK_ADB, bytes(adb.buf))
    for path_idx, files in enumerate(data_files, 1):
        for file_idx, (path, has_data) in enumerate(files, 1):
            if not has_data:
                continue
            with open(path, "rb") as f:
                content = f.read()
            if len(content) > MAX_DATA_BLOCK:
                raise PackError(f"{os.fsdecode(path)}: files over 1 GiB are not supported")
            out += block(BLOCK_DATA, struct.pack("<II", path_idx, file_idx) + content)

    if compression == "deflate":
        z = zlib.compressobj(9, zlib.DEFLATED, -15, 8)
        out = b"ADBd" + z.compress(bytes(out)) + z.flush()
    tmp = output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.chmod(tmp, 0o644)
    os.replace(tmp, output)


def parse_args(argv):
    if not argv or argv[0] != "mkpkg":
        raise PackError("usage: apk.py mkpkg --info KEY:VALUE... [--script TYPE:FILE...] "
                        "--files DIR --output FILE [--compression deflate|none]")
    info, scripts, files_dir, output, compression = {}, {}, None, None, "deflate"
    args = iter(argv[1:])
    for opt in args:
        value = next(args, None)
        if value is None:
            raise PackError(f"{opt}: missing value")
        if opt == "--info":
            key, sep, val = value.partition(":")
            if not sep:
                raise PackError(f"missing key or value: {value}")
            if key not in INFO_FIELDS:
                raise PackError(f"invalid info field: {key}")
            info[key] = val
        elif opt == "--script":
            kind, sep, path = value.partition(":")
            if not sep or kind not in SCRIPTS:
                raise PackError(f"invalid script type: {kind}")
            with open(path, "rb") as f:
                scripts[SCRIPTS[kind]] = f.read()
        elif opt == "--files":
            files_dir = value
        elif opt == "--output":
            output = value
        elif opt == "--compression":
            if value not in ("deflate", "none"):
                raise PackError(f"compression '{value}': deflate or none")
            compression = value
        else:
            raise PackError(f"unknown option {opt}")
    if not files_dir or not os.path.isdir(files_dir):
        raise PackError(f"file directory '{files_dir}': not a directory")
    if not output:
        raise PackError("no --output")
    return info, scripts, files_dir, output, compression


def main():
    try:
        mkpkg(*parse_args(sys.argv[1:]))
    except (PackError, OSError) as e:
        print(f"cross/apk.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
