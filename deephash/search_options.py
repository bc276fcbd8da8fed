"""How a search is asked for: one definition for the library, the service's API, and both command lines."""

from __future__ import annotations

import argparse
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deephash.errors import InvalidRequest

MAX_K = 10_000
Modality = Literal["video", "audio", "both"]


class SearchOptions(BaseModel):
    """Top-k neighbours of a query code, optionally within a radius, masked and within the query's L1 group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, ge=1, le=MAX_K, description="how many neighbours")
    radius: int | None = Field(None, ge=0, description="largest distance returned (single modality)")
    masked: bool = Field(True, description="apply the query category's bit mask")
    same_group: bool = Field(True, description="scan only the query's L1 group")
    modality: Modality = Field("video", description="video code, audio code, or both (normalised sum)")


def add_search_arguments(parser: argparse.ArgumentParser, modality: bool = True) -> None:
    """``-k``, ``--radius``, ``--no-mask``, ``--all-groups`` (and ``--modality``) with the defaults above."""
    defaults = SearchOptions()
    parser.add_argument("-k", type=int, default=defaults.k, help=f"neighbours to return (1..{MAX_K})")
    parser.add_argument("--radius", type=int, help="largest distance returned")
    parser.add_argument("--no-mask", action="store_true", help="plain Hamming distance, no category mask")
    parser.add_argument("--all-groups", action="store_true", help="scan every L1 group, not only the query's")
    if modality:
        parser.add_argument(
            "--modality", choices=("video", "audio", "both"), default=defaults.modality, help="which codes to compare"
        )


def search_options_from_args(args: argparse.Namespace) -> SearchOptions:
    """The options a command line gave; a bad ``-k`` or radius is the caller's mistake (exit 2), said in a line."""
    try:
        return SearchOptions(
            k=args.k,
            radius=args.radius,
            masked=not args.no_mask,
            same_group=not args.all_groups,
            modality=getattr(args, "modality", "video"),
        )
    except ValidationError as error:
        flags = {"k": "-k", "radius": "--radius", "modality": "--modality"}
        problems = "; ".join(f"{flags.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors())
        raise InvalidRequest(problems) from None
