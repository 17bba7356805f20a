"""The guest image: Debian's cloud kernel with its virtio disk modules and a
busybox initramfs, built from Debian packages into <data dir>/guest/ once.

Nothing is downloaded at run time: `apt-get download` fetches the packages
from the host's own Debian mirror when the image is built, and every later
run uses the cached files. The manifest records the package versions and the
hash of what /init does; a changed init script or module list means a rebuild."""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import hashlib
import json
import lzma
import pathlib
import platform
import re
import shutil
import subprocess
import tempfile

import zstandard

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# The cloud kernel builds virtio as modules; each needs the ones before it.
MODULES = ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk")
INIT = pathlib.Path(__file__).with_name("guest_init.sh")
APT_TIMEOUT = 300


class ImageError(RuntimeError):
    """The image cannot be built here; str() says what to install or fix."""


@dataclasses.dataclass(frozen=True)
class GuestImage:
    kernel: pathlib.Path
    initrd: pathlib.Path
    manifest: dict

    @classmethod
    def load(cls, directory: pathlib.Path) -> "GuestImage | None":
        """The image cached in `directory` if it is complete and current."""
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        image = cls(directory / "vmlinuz", directory / "initrd.gz", manifest)
        if manifest.get("init_sha256") != _init_hash() or not (image.kernel.exists() and image.initrd.exists()):
            return None
        return image


def _init_hash() -> str:
    """What the guest's /init does: its script and the modules it loads."""
    return hashlib.sha256(INIT.read_bytes() + _module_order().encode()).hexdigest()


def _module_order() -> str:
    return "".join(f"{name}\n" for name in MODULES)


def image_dir(data_dir: pathlib.Path) -> pathlib.Path:
    return data_dir / "guest"


def ensure(data_dir: pathlib.Path, rebuild: bool = False, log=print) -> GuestImage:
    """The cached image, built first if missing, stale or `rebuild` is set.
    A lock file keeps two builds on one host from racing."""
    directory = image_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        image = None if rebuild else GuestImage.load(directory)
        if image is None:
            log(f"building the guest image in {directory} from Debian packages")
            image = _build(directory)
            log(f"built: kernel {image.manifest['kernel_package']} {image.manifest['kernel_version']}, "
                f"busybox {image.manifest['busybox_version']}")
        return image


def _run(command: list[str], cwd: pathlib.Path, what: str) -> str:
    if shutil.which(command[0]) is None:
        raise ImageError(f"{what} needs {command[0]}; this host is not Debian-based or lacks it")
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what}: {' '.join(command)} took over {APT_TIMEOUT} s")
    if done.returncode != 0:
        raise ImageError(f"{what}: {' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _download(package: str, into: pathlib.Path) -> pathlib.Path:
    """One package's .deb from the host's apt sources (no root needed)."""
    try:
        _run(["apt-get", "download", package], into, f"downloading {package}")
    except ImageError as error:
        raise ImageError(f"{error} (are the package lists current? apt-get update)") from None
    debs = sorted(into.glob(f"{package}_*.deb"))
    if not debs:
        raise ImageError(f"apt-get download {package} left no .deb in {into}")
    return debs[-1]


def _field(deb: pathlib.Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name], deb.parent, f"reading {deb.name}").strip()


def _kernel_deb(work: pathlib.Path) -> pathlib.Path:
    """The metapackage names the versioned kernel package it depends on."""
    meta = _download(KERNEL_PACKAGE, work)
    match = re.match(r"\s*(linux-image-[^\s,(|]+)", _field(meta, "Depends"))
    if match is None:
        raise ImageError(f"{KERNEL_PACKAGE} does not depend on a linux-image package")
    return _download(match.group(1), work)


def _module_bytes(path: pathlib.Path) -> bytes:
    """busybox's insmod takes plain .ko files; newer Debian kernels compress them."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _find_module(tree: pathlib.Path, name: str) -> pathlib.Path:
    for suffix in (".ko", ".ko.xz", ".ko.zst"):
        found = sorted(tree.glob(f"lib/modules/*/kernel/**/{name}{suffix}"))
        if found:
            return found[0]
    raise ImageError(f"the kernel package has no module {name}")


def _build(directory: pathlib.Path) -> GuestImage:
    if platform.machine() not in ("x86_64", "amd64"):
        raise ImageError(f"the guest image is built for x86_64 hosts; this one is {platform.machine()}")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as scratch:
        work = pathlib.Path(scratch)
        kernel_deb, busybox_deb = _kernel_deb(work), _download(BUSYBOX_PACKAGE, work)
        kernel_tree, busybox_tree, root = work / "kernel", work / "busybox", work / "root"
        for deb, tree in ((kernel_deb, kernel_tree), (busybox_deb, busybox_tree)):
            _run(["dpkg-deb", "-x", str(deb), str(tree)], work, f"unpacking {deb.name}")
        kernels = sorted(kernel_tree.glob("boot/vmlinuz-*"))
        if not kernels:
            raise ImageError(f"{kernel_deb.name} has no boot/vmlinuz-*")
        for folder in ("bin", "lib/modules", "proc", "sys", "dev", "tmp", "ember"):
            (root / folder).mkdir(parents=True)
        shutil.copy2(busybox_tree / "bin" / "busybox", root / "bin" / "busybox")
        for name in MODULES:
            (root / "lib" / "modules" / f"{name}.ko").write_bytes(_module_bytes(_find_module(kernel_tree, name)))
        (root / "lib" / "modules" / "order").write_text(_module_order())
        shutil.copy2(INIT, root / "init")
        (root / "init").chmod(0o755)
        manifest = {
            "kernel_package": _field(kernel_deb, "Package"),
            "kernel_version": _field(kernel_deb, "Version"),
            "busybox_version": _field(busybox_deb, "Version"),
            "init_sha256": _init_hash(),
        }
        # The manifest goes last: without it a half-written image is never used.
        (directory / "manifest.json").unlink(missing_ok=True)
        shutil.copy2(kernels[-1], directory / "vmlinuz")
        (directory / "initrd.gz").write_bytes(gzip.compress(cpio(root), compresslevel=6))
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return GuestImage(directory / "vmlinuz", directory / "initrd.gz", manifest)


def cpio(root: pathlib.Path) -> bytes:
    """`root`'s tree as a newc archive, the format the kernel unpacks."""
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    if shutil.which("cpio") is None:
        raise ImageError("building the guest's initramfs needs cpio (apt-get install cpio)")
    done = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "--owner=0:0"], cwd=root,
                          input="\n".join(names).encode() + b"\n", capture_output=True, timeout=60)
    if done.returncode != 0:
        raise ImageError(f"cpio failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
