"""How a search is asked for: one definition for the library, the service's API, and both command lines."""

from __future__ import annotations

import argparse
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deephash.errors import InvalidRequest

MAX_K = 10_000
Modality = Literal["video", "audio", "both"]
Intent = Literal["copies", "similar"]


class SearchOptions(BaseModel):
    """Top-k neighbours of a query, for one of two intents. ``copies`` (the default): copies and near-copies of
    the query, every group scanned by plain Hamming distance and the candidates re-ranked by the verification
    descriptor. ``similar``: videos of the query's category (the seeds' recommendation search), the query's L1
    group under its category's bit mask. ``masked`` and ``same_group`` override what the intent implies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, ge=1, le=MAX_K, description="how many neighbours")
    intent: Intent = Field("copies", description="copies of the query, or videos similar to it (same category)")
    radius: int | None = Field(None, ge=0, description="largest distance returned (single modality)")
    masked: bool | None = Field(None, description="apply the query category's bit mask (default: by intent)")
    same_group: bool | None = Field(None, description="scan only the query's L1 group (default: by intent)")
    modality: Modality = Field("video", description="video code, audio code, or both (normalised sum)")

    @property
    def uses_mask(self) -> bool:
        return self.masked if self.masked is not None else self.intent == "similar"

    @property
    def in_group(self) -> bool:
        return self.same_group if self.same_group is not None else self.intent == "similar"

    @property
    def verified(self) -> bool:
        """Whether candidates are re-ranked by the verification descriptor (copies, where there is one)."""
        return self.intent == "copies"


def add_search_arguments(parser: argparse.ArgumentParser, modality: bool = True) -> None:
    """``-k``, ``--similar``, ``--radius``, ``--no-mask``, ``--all-groups`` (and ``--modality``) with the defaults
    above."""
    defaults = SearchOptions()
    parser.add_argument("-k", type=int, default=defaults.k, help=f"neighbours to return (1..{MAX_K})")
    parser.add_argument(
        "--similar",
        action="store_true",
        help="videos of the query's category (its L1 group, masked) instead of copies of it (every group, "
        "re-ranked by the verification descriptor)",
    )
    parser.add_argument("--radius", type=int, help="largest distance returned")
    parser.add_argument("--no-mask", action="store_true", help="with --similar: plain Hamming distance, no mask")
    parser.add_argument("--all-groups", action="store_true", help="with --similar: every L1 group, not the query's")
    if modality:
        parser.add_argument(
            "--modality", choices=("video", "audio", "both"), default=defaults.modality, help="which codes to compare"
        )


def search_options_from_args(args: argparse.Namespace) -> SearchOptions:
    """The options a command line gave; a bad ``-k`` or radius is the caller's mistake (exit 2), said in a line."""
    try:
        return SearchOptions(
            k=args.k,
            intent="similar" if args.similar else "copies",
            radius=args.radius,
            masked=False if args.no_mask else None,
            same_group=False if args.all_groups else None,
            modality=getattr(args, "modality", "video"),
        )
    except ValidationError as error:
        flags = {"k": "-k", "radius": "--radius", "modality": "--modality"}
        problems = "; ".join(f"{flags.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors())
        raise InvalidRequest(problems) from None
