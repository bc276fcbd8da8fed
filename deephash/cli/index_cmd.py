"""``deephash index ...``: create, fill, search and maintain a code library."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from deephash.audio.index import AudioIndex
from deephash.cli import layout_cmd, versions_cmd
from deephash.cli.common import CommandError, add_bulk_options, add_model_option, model_dir
from deephash.codes import from_hex
from deephash.errors import LibraryError
from deephash.index import Library
from deephash.index.library import DEFAULT_SHARD_CAPACITY
from deephash.index.manifest import FORMAT
from deephash.index.upgrade import format1_libraries, upgrade_in_place, upgrade_library
from deephash.ingestion import CodeRows, write_codes
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE
from deephash.search_options import add_search_arguments, search_options_from_args


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "index",
        help="code libraries: create, add, import, search, remove, compact, stats, verify, backup, restore, "
        "upgrade; "
        "the versions of a data folder: versions, activate, rollback; layout (shard holders on Ray)",
        description="A library is a folder of memory-mapped shards grouped by L1 category (codes, categories "
        "and video ids) and a manifest. One writer at a time; any number of readers.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="make an empty library for one model's codes")
    create.add_argument("library", type=Path)
    add_model_option(create)
    create.add_argument("--bits", type=int, help="code length (default: the model's)")
    create.add_argument("--model-version", help="model version (default: the model's)")
    create.add_argument("--shard-capacity", type=int, default=DEFAULT_SHARD_CAPACITY, help="rows per shard")
    create.set_defaults(run=run_create)

    add = actions.add_parser(
        "add",
        help="hash videos with the model and add them (id = file name stem)",
        description="Hash each video and write its code under its file name's stem, as the service's add and "
        "the bulk job write theirs (one writer: audio first, then video; a video hashed again without sound "
        "loses its old audio code). With --audio, the videos' audio codes go to that audio library too.",
    )
    add.add_argument("library", type=Path)
    add.add_argument("videos", nargs="+", type=Path)
    add.add_argument("--audio", type=Path, help="an audio library (created when absent) for the videos' audio codes")
    add_model_option(add)
    add_bulk_options(add)
    add.set_defaults(run=run_add)

    bulk = actions.add_parser("import", help="bulk add from an .npz with arrays ids, codes, l1, l2")
    bulk.add_argument("library", type=Path)
    bulk.add_argument("codes_file", type=Path)
    bulk.add_argument("--batch", type=int, default=1 << 18, help="rows per durable batch")
    bulk.set_defaults(run=run_import)

    search = actions.add_parser(
        "search",
        help="the copies of a video, a code or a stored id (or, --similar, videos of its category)",
        description="Query by --video (hashed with the model), --code HEX with --l1/--l2, or --id of a stored "
        "video. By default it finds copies: every group by plain Hamming distance, the candidates re-ranked by "
        "the verification descriptor where the library keeps them (a --video's own, a stored --id's); --similar "
        "finds videos of the query's category instead (its L1 group, under its category mask).",
    )
    search.add_argument("library", type=Path)
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--video", type=Path, help="a video file, hashed with the model")
    query.add_argument("--code", help="hex code")
    query.add_argument("--id", dest="video_id", help="a video id already in the library")
    search.add_argument("--l1", type=int, help="L1 category of --code")
    search.add_argument("--l2", type=int, help="L2 category of --code")
    add_search_arguments(search, modality=False)
    search.add_argument("--json", action="store_true", help="one JSON object per hit")
    add_model_option(search)
    search.set_defaults(run=run_search)

    remove = actions.add_parser("remove", help="remove videos by id (tombstones)")
    remove.add_argument("library", type=Path)
    remove.add_argument("ids", nargs="+")
    remove.set_defaults(run=run_remove)

    for name, run, text in (
        ("compact", run_compact, "rewrite shards without tombstones"),
        ("stats", run_stats, "rows, shards, groups, model version, bytes"),
        (
            "verify",
            run_verify,
            f"check checksums, tombstones and that each live id is found once; exit {LibraryError.exit_code} if not",
        ),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("library", type=Path)
        action.set_defaults(run=run)

    backup = actions.add_parser(
        "backup",
        help="a consistent, verified copy of a library in a new folder",
        description="Copy the library's acknowledged rows with their ids at one generation into OUT (a new folder), "
        "then verify the copy. No writer may start meanwhile; a library a running service writes to is backed "
        "up through the service (POST /backup with an admin token).",
    )
    backup.add_argument("library", type=Path)
    backup.add_argument("out", type=Path, help="new folder for the backup")
    backup.set_defaults(run=run_backup)
    restore = actions.add_parser(
        "restore",
        help="bring a backup back as a library in a new folder, verified",
        description="Copy BACKUP into LIBRARY (which must not exist) the way a backup is made, and verify it.",
    )
    restore.add_argument("backup", type=Path)
    restore.add_argument("library", type=Path, help="new folder for the restored library")
    restore.set_defaults(run=run_restore)

    upgrade = actions.add_parser(
        "upgrade",
        help="bring libraries of format 1 (ids in ids.sqlite) to the current format",
        description="Copy the live rows of a format 1 library (video ids in ids.sqlite) into a library of the "
        "current format (ids in the shards, ~41 instead of ~110 bytes per video) and verify it. With NEW: into "
        "that new folder, the old one untouched. Without: in place, the old library kept beside it as "
        "*.format1; PATH may then also be a data folder, whose format 1 libraries (video, audio, every version) "
        "are all upgraded. Stop the service that writes to them first.",
    )
    upgrade.add_argument("path", type=Path, help="a format 1 library, or a data folder holding some")
    upgrade.add_argument("new", type=Path, nargs="?", help="new folder for the upgraded library (default: in place)")
    upgrade.set_defaults(run=run_upgrade)
    versions_cmd.add_actions(actions)
    layout_cmd.add_actions(actions)


def _open(path: Path, writable: bool = False) -> Library:
    library = Library.open(path, writable=writable)
    for line in library.recovery:
        print(f"repaired: {line}")
    return library


def run_create(args) -> int:
    bits, version, dims = args.bits, args.model_version, 0
    if bits is None or version is None:
        from deephash.model.artifacts import load_config, model_version

        folder = model_dir(args)
        config = load_config(folder)
        bits, dims = bits or config.code_bits, config.verify_dims
        version = version or model_version(folder)
    Library.create(args.library, bits, version, args.shard_capacity, dims).close()
    kept = f", {dims}-dimensional verification descriptors" if dims else ""
    print(f"created {args.library}: {bits}-bit codes of model {version[:12]}{kept}")
    return 0


def run_add(args) -> int:
    from deephash.bulk import hash_many
    from deephash.hasher import EmbeddedHasher

    hasher = EmbeddedHasher(model_dir(args))
    failures = 0
    audio = AudioIndex.open(args.audio) if args.audio is not None else None
    try:
        with _open(args.library, writable=True) as library:
            library.check_compatible(hasher.config.code_bits, hasher.version)
            for hashed in hash_many(hasher, args.videos, args.workers, args.batch, audio=audio is not None):
                video, result = hashed.source, hashed.result
                if result is None:
                    failures += 1
                    print(f"{video.stem}: error: {hashed.error}")
                    continue
                verification = None if result.verification is None else result.verification[None]
                ids, l1, l2 = [video.stem], [result.l1.id], [result.l2.id]
                rows = CodeRows(ids, result.code[None], l1, l2, [hashed.audio], verification)
                outcome = next(iter(write_codes(library, audio, rows)))
                print(f"{video.stem}: {outcome} ({result.l1.name}/{result.l2.name}, {result.code_hex})")
    finally:
        if audio is not None:
            audio.close()
    return 3 if failures else 0


def run_import(args) -> int:
    if not args.codes_file.is_file():
        raise CommandError(f"no such file: {args.codes_file}")
    with np.load(args.codes_file) as data:
        missing = {"ids", "codes", "l1", "l2"} - set(data.files)
        if missing:
            raise CommandError(f"{args.codes_file} lacks arrays: {', '.join(sorted(missing))}")
        ids, codes, l1, l2 = [str(v) for v in data["ids"]], data["codes"], data["l1"], data["l2"]
    with _open(args.library, writable=True) as library:
        outcome = library.import_codes(ids, codes, l1, l2, batch=args.batch)
    print(", ".join(f"{count} {name}" for name, count in sorted(outcome.items())) or "nothing to import")
    return 0


def run_search(args) -> int:
    with _open(args.library) as library:
        exclude, verification = None, None
        if args.video is not None:
            from deephash.hasher import EmbeddedHasher

            hasher = EmbeddedHasher(model_dir(args))
            library.check_compatible(hasher.config.code_bits, hasher.version)
            result = hasher.hash_video(args.video)
            code, l1, l2, verification = result.code, result.l1.id, result.l2.id, result.verification
        elif args.video_id is not None:
            stored = library.get(args.video_id)
            code, l1, l2, exclude, verification = stored.code, stored.l1, stored.l2, [args.video_id], stored.verify
        else:
            if args.l1 is None or args.l2 is None:
                raise CommandError("--code needs --l1 and --l2 (for the mask and the group)")
            code, l1, l2 = from_hex(args.code, library.code_bits), args.l1, args.l2
        options = search_options_from_args(args)
        mask = CategoryMask.load(model_dir(args) / MASK_FILE).for_query(l1, l2) if options.uses_mask else None
        hits = library.search(
            code,
            options.k,
            max_distance=options.radius,
            masks=mask,
            groups=[l1] if options.in_group else None,
            exclude=exclude,
            verify=verification if options.verified else None,
        )[0]
    for rank, hit in enumerate(hits, start=1):
        if args.json:
            print(json.dumps({"rank": rank, **dataclasses.asdict(hit)}))
        else:
            similarity = "" if hit.similarity is None else f"  similarity {hit.similarity:.3f}"
            print(f"{rank:>4}  {hit.distance:>4}  {hit.video_id}  (l1 {hit.l1}, l2 {hit.l2}){similarity}")
    if not hits and not args.json:
        print("no results")
    return 0


def run_remove(args) -> int:
    with _open(args.library, writable=True) as library:
        for video in args.ids:
            print(f"{video}: {'removed' if library.remove(video) else 'not in the library'}")
    return 0


def run_compact(args) -> int:
    with _open(args.library, writable=True) as library:
        report = library.compact()
    print(f"kept {report['kept']} rows, dropped {report['dropped']} tombstones, {report['shards']} shards")
    return 0


def run_stats(args) -> int:
    with _open(args.library) as library:
        print(json.dumps(library.stats(), indent=2))
    return 0


def run_backup(args) -> int:
    with _open(args.library) as library:
        copied = library.backup(args.out)
    print(f"backed up {copied['rows']} rows of generation {copied['generation']} to {args.out}; verified")
    return 0


def run_restore(args) -> int:
    with _open(args.backup) as backup:
        copied = backup.backup(args.library)
    print(f"restored {copied['rows']} rows of generation {copied['generation']} to {args.library}; verified")
    return 0


def run_upgrade(args) -> int:
    if args.new is not None:
        copied = upgrade_library(args.path, args.new)
        print(f"copied {copied['rows']} live rows of {args.path} into {args.new} (format {FORMAT}); verified")
        return 0
    one = not args.path.exists() or (args.path / "ids.sqlite").is_file()  # missing: a swap stopped half-way
    folders = [args.path] if one else format1_libraries(args.path)
    if not folders:
        print(f"no library of format 1 in {args.path}: nothing to upgrade")
    for folder in folders:
        done = upgrade_in_place(folder)
        rows = "" if done["rows"] is None else f"{done['rows']} live rows, "
        print(f"upgraded {folder} to format {FORMAT} ({rows}verified); the old library is kept in {done['kept']}")
    return 0


def run_verify(args) -> int:
    with _open(args.library) as library:
        problems = library.verify()
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        raise LibraryError(f"{len(problems)} problems in {args.library}")
    print("ok")
    return 0
