"""`chatterbox`: the SDK from the shell.

    chatterbox speak "Hello there." --voice alex -o hello.mp3
    chatterbox voices upload narrators/*.wav --folder narrators
    chatterbox voices ls --search warm
    chatterbox outputs ls
    chatterbox outputs get tts_20261202_....wav -o copy.wav
    chatterbox convert speech.wav --voice alex -o converted.wav
    chatterbox concat tts_a.wav tts_b.wav --pause-ms 400 -o joined.mp3
    chatterbox voices export backup.zip
    chatterbox voices import backup.zip --on-conflict rename

The server is --url or CHATTERBOX_URL (default http://localhost:3000), the key --api-key or
CHATTERBOX_API_KEY. A refusal prints the server's message (and the field it names) and
exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from chatterbox_client import models
from chatterbox_client.client import Client
from chatterbox_client.errors import ChatterboxError


def choices_of(model: type[BaseModel], field: str) -> tuple[Any, ...]:
    """The values a field of the API's own schema takes (the models are generated from
    docs/openapi.yaml), so the choices follow the server: its formats, its model families."""
    literal = next(arg for arg in get_args(model.model_fields[field].annotation) if arg is not type(None))
    return get_args(literal)


FORMATS = choices_of(models.TTSRequest, "output_format")
MODELS = choices_of(models.TTSRequest, "model")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _progress(done: int, total: int, label: str) -> None:
    """A progress bar on stderr (it stays out of what scripts read from stdout)."""
    filled = round(30 * done / total) if total else 30
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {label[:40]:<40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def speak(client: Client, args: argparse.Namespace) -> None:
    parameters = {key: value for key, value in {"language": args.language, "seed": args.seed, "speed_factor": args.speed, "output_format": args.format}.items() if value is not None}
    if args.output and args.stream:
        with client.stream_speech(args.text, voice=args.voice, model=args.model, **parameters) as response, Path(args.output).open("wb") as file:
            for block in response.iter_bytes():
                file.write(block)
        _say(response.headers.get("x-output-filename", args.output))
        return
    result = client.speak(args.text, voice=args.voice, model=args.model, **parameters)
    if args.output:
        client.download_output(result.filename, args.output)
    _say(result.filename)


def convert(client: Client, args: argparse.Namespace) -> None:
    source = Path(args.source)
    if source.exists():
        result = client.convert(source, target_voice=args.voice, output_format=args.format)
    else:  # a stored output's name
        result = client.convert(target_voice=args.voice, source_output=args.source, output_format=args.format)
    if args.output:
        client.download_output(result.filename, args.output)
    _say(result.filename)


def concat(client: Client, args: argparse.Namespace) -> None:
    """Stored outputs joined in the order given; a long join runs as a job, followed with a progress bar."""
    inputs: list[dict[str, object]] = []
    for position, name in enumerate(args.outputs):
        if position and args.pause_ms:
            inputs.append({"silence_ms": args.pause_ms})
        inputs.append({"output": name})
    options = {key: value for key, value in {"crossfade_ms": args.crossfade_ms, "output_format": args.format}.items() if value is not None}

    def progress(job: models.JobResponse) -> None:
        eta = f"ETA {job.progress.eta_seconds:.0f} s" if job.progress.eta_seconds is not None else job.status
        _progress(round(job.progress.percent or 0), 100, eta)

    result = client.concat(inputs, progress=progress, **options)
    assert isinstance(result, models.OutputResponse)
    if args.output:
        client.download_output(result.filename, args.output)
    _say(result.filename)


def voices_ls(client: Client, args: argparse.Namespace) -> None:
    filters = {key: value for key, value in {"search": args.search, "folder": args.folder}.items() if value is not None}
    for voice in client.iter_voices(**filters):
        _say(f"{voice.name}\t{voice.folder or '/'}\t{','.join(voice.tags or [])}\t{voice.quality.verdict if voice.quality else ''}")


def voices_upload(client: Client, args: argparse.Namespace) -> None:
    failed = 0
    for done, path in enumerate(args.files, start=1):
        try:
            voice = client.upload_voice(path, overwrite=args.overwrite, folder=args.folder, tags=args.tags.split(",") if args.tags else None).voice
            _progress(done, len(args.files), f"{voice.name}: stored")
        except ChatterboxError as exc:
            failed += 1
            _progress(done, len(args.files), f"{Path(path).name}: {exc.message}")
    if failed:
        raise SystemExit(f"{failed} of {len(args.files)} files failed")


def voices_rm(client: Client, args: argparse.Namespace) -> None:
    answer = client.delete_voice(args.name, dry_run=args.dry_run)
    _say(("would delete: " if args.dry_run else "deleted: ") + ", ".join(getattr(answer, "would_delete", None) or getattr(answer, "deleted", [])))


def voices_export(client: Client, args: argparse.Namespace) -> None:
    _say(str(client.export_voices(args.archive, **({"folder": args.folder} if args.folder else {}))))


def voices_import(client: Client, args: argparse.Namespace) -> None:
    for result in client.import_voices(Path(args.archive), on_conflict=args.on_conflict).results:
        _say(f"{result.name}\t{result.status}")


def outputs_ls(client: Client, args: argparse.Namespace) -> None:
    filters = {"search": args.search} if args.search else {}
    for output in client.iter_outputs(**filters):
        _say(f"{output.filename}\t{output.type}\t{output.duration_seconds:.2f} s\t{output.voice or ''}")


def outputs_get(client: Client, args: argparse.Namespace) -> None:
    _say(str(client.download_output(args.filename, args.output or args.filename)))


def health(client: Client, args: argparse.Namespace) -> None:
    _say(client.health().model_dump_json(indent=2))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="chatterbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--url", help="the server (default: CHATTERBOX_URL, else http://localhost:3000)")
    root.add_argument("--api-key", help="the API key (default: CHATTERBOX_API_KEY)")
    commands = root.add_subparsers(dest="command", required=True)

    said = commands.add_parser("speak", help="generate speech")
    said.add_argument("text")
    said.add_argument("--voice")
    said.add_argument("--model", choices=MODELS)
    said.add_argument("--language")
    said.add_argument("--seed", type=int)
    said.add_argument("--speed", type=float)
    said.add_argument("--format", choices=FORMATS)
    said.add_argument("-o", "--output", help="save the audio here")
    said.add_argument("--stream", action="store_true", help="write the audio while it is generated")
    said.set_defaults(run=speak)

    converted = commands.add_parser("convert", help="voice conversion to a library voice")
    converted.add_argument("source", help="an audio file, or a stored output's name")
    converted.add_argument("--voice", required=True, help="the library voice to sound like")
    converted.add_argument("--format", choices=FORMATS)
    converted.add_argument("-o", "--output", help="save the audio here")
    converted.set_defaults(run=convert)

    joined = commands.add_parser("concat", help="join stored outputs into one")
    joined.add_argument("outputs", nargs="+", help="stored outputs' names, in order")
    joined.add_argument("--pause-ms", type=int, help="silence between them")
    joined.add_argument("--crossfade-ms", type=int)
    joined.add_argument("--format", choices=FORMATS)
    joined.add_argument("-o", "--output", help="save the audio here")
    joined.set_defaults(run=concat)

    voices = commands.add_parser("voices", help="the voice library").add_subparsers(dest="action", required=True)
    listed = voices.add_parser("ls", help="list voices")
    listed.add_argument("--search")
    listed.add_argument("--folder")
    listed.set_defaults(run=voices_ls)
    uploaded = voices.add_parser("upload", help="add voices, one per file (named after it)")
    uploaded.add_argument("files", nargs="+")
    uploaded.add_argument("--folder")
    uploaded.add_argument("--tags", help="comma-separated")
    uploaded.add_argument("--overwrite", action="store_true")
    uploaded.set_defaults(run=voices_upload)
    removed = voices.add_parser("rm", help="delete a voice")
    removed.add_argument("name")
    removed.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    removed.set_defaults(run=voices_rm)
    exported = voices.add_parser("export", help="save voices to a zip (a backup)")
    exported.add_argument("archive")
    exported.add_argument("--folder")
    exported.set_defaults(run=voices_export)
    imported = voices.add_parser("import", help="restore voices from an export")
    imported.add_argument("archive")
    imported.add_argument("--on-conflict", choices=["skip", "overwrite", "rename"], default="skip")
    imported.set_defaults(run=voices_import)

    outputs = commands.add_parser("outputs", help="generated files").add_subparsers(dest="action", required=True)
    outputs_listed = outputs.add_parser("ls", help="list outputs")
    outputs_listed.add_argument("--search")
    outputs_listed.set_defaults(run=outputs_ls)
    fetched = outputs.add_parser("get", help="download an output (resumes a partial file)")
    fetched.add_argument("filename")
    fetched.add_argument("-o", "--output")
    fetched.set_defaults(run=outputs_get)

    commands.add_parser("health", help="the server's health").set_defaults(run=health)
    return root


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    with Client(args.url, api_key=args.api_key) as client:
        try:
            args.run(client, args)
        except ChatterboxError as exc:
            field = f" (field: {exc.field})" if exc.field else ""
            raise SystemExit(f"chatterbox: {exc}{field}") from None


if __name__ == "__main__":
    main()
