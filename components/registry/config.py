"""Settings shared by every registry operation, on the command line and in the KFP components."""

from dataclasses import dataclass, field

from components.common import uri
from components.common.config import require
from components.registry.registry import CHAMPION, check_name


@dataclass
class RegistryConfig:
    registry_root: str = field(
        metadata={"help": "local folder or s3://bucket/prefix that holds the registry"}
    )
    model_name: str = field(metadata={"help": "name of the model in the registry"})
    alias: str = field(
        default=CHAMPION, metadata={"help": "alias that names the version in production"}
    )

    def __post_init__(self) -> None:
        require(
            bool(self.registry_root),
            "the registry root is empty; pass a local folder or s3://bucket/prefix "
            "(--registry-root)",
        )
        if uri.is_s3(self.registry_root):
            uri.parse_s3(self.registry_root)
        else:
            uri.local_path(self.registry_root)
        check_name(self.model_name, "model name")
        check_name(self.alias, "alias")
