"""What the unit of work needs of an aggregate: its version (read, and after its change), the
events its change caused, and which commands it applied (so that a redelivered one is not
applied twice). The domain rules stay in each service's model."""

from dataclasses import dataclass, field

from shared.contracts.common import FIRST_VERSION
from shared.contracts.errors import PreconditionFailed


@dataclass(kw_only=True)
class Aggregate:
    version: int = FIRST_VERSION
    applied_commands: list[str] = field(default_factory=list)
    """Commands applied whose tracking record may not be written yet: the ones stored with the
    document when it was read, and the ones applied since."""
    events: list = field(default_factory=list)
    read_version: int = field(init=False)
    _read_commands: list[str] = field(init=False, repr=False, compare=False)
    _tracked: set[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.read_version = self.version
        self._read_commands = list(self.applied_commands)
        self._tracked = set()

    @property
    def changed(self) -> bool:
        return self.version != self.read_version or bool(self.events)

    def has_applied(self, command_id: str) -> bool:
        return command_id in self._tracked or command_id in self.applied_commands

    def require_version(self, expected: list[int] | None, kind: str) -> None:
        """A conditional change applies only to a version its caller named (None: to any).
        The version counts every change, those its views do not show too."""
        if expected is not None and self.version not in expected:
            raise PreconditionFailed(f"{kind} {self.id}", self.version)

    def tracked(self, command_id: str) -> None:
        """The tracking record says this aggregate applied `command_id`."""
        self._tracked.add(command_id)

    @property
    def commands_read(self) -> list[str]:
        return self._read_commands

    @property
    def commands_applied_since_read(self) -> list[str]:
        return [command for command in self.applied_commands if command not in self._read_commands]

    def next_version(self, command_id: str) -> None:
        """Bookkeeping of every change: a new version, applied by `command_id`."""
        self.version += 1
        if command_id not in self.applied_commands:
            self.applied_commands.append(command_id)
