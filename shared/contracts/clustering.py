"""Commands the clustering service answers: a workspace's clustering settings."""

from typing import Annotated, ClassVar

from pydantic import BeforeValidator, Field

from shared.contracts.common import ContractModel, ExpectedVersions, PatchModel

CLUSTERING_SERVICE = "clustering"

SimilarityThreshold = Annotated[float, Field(gt=0, le=1, strict=True)]


def _a_json_number(value: object) -> object:
    """A JSON number only: not `true`, not a string of digits (which pydantic would take)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


MinClusterSize = Annotated[int, Field(ge=2, le=1000), BeforeValidator(_a_json_number)]
FeedbackThreshold = Annotated[float, Field(ge=0, le=1, strict=True)]


class ClusteringSettingsView(ContractModel):
    """`enabled`: whether failing traces are clustered into issues. `similarityThreshold`: how
    similar (0 to 1) a failing trace must be to an issue to join it (or reopen a closed one).
    `minClusterSize`: the fewest similar failing traces that make a new issue. `feedbackThreshold`:
    a trace whose feedback score is below it fails, as does every trace with `status: error`."""

    enabled: bool = True
    similarity_threshold: SimilarityThreshold = 0.35
    min_cluster_size: MinClusterSize = 4
    feedback_threshold: FeedbackThreshold = 0.5


class ClusteringSettingsPatch(PatchModel):
    enabled: Annotated[bool, Field(strict=True)] | None = None
    similarity_threshold: SimilarityThreshold | None = None
    min_cluster_size: MinClusterSize | None = None
    feedback_threshold: FeedbackThreshold | None = None


class ClusteringCommand(ContractModel):
    service: ClassVar[str] = CLUSTERING_SERVICE
    message_type: ClassVar[str]


class GetClusteringSettings(ClusteringCommand):
    message_type: ClassVar[str] = "clustering.get_settings"


class UpdateClusteringSettings(ClusteringCommand):
    """Applies `patch`; with `expectedVersions`, only if the settings are at one of them."""

    message_type: ClassVar[str] = "clustering.update_settings"
    patch: ClusteringSettingsPatch
    expected_versions: ExpectedVersions = None


class ClusteringSettingsResult(ContractModel):
    """`version`: 1 for a workspace that never changed them (the defaults); the `ETag`."""

    settings: ClusteringSettingsView
    version: int
