"""Writes the Python SDK's models (`clients/python/chatterbox_client/models.py`) from
`docs/openapi.yaml` with datamodel-code-generator, so the SDK's types are the API's own.

Run after `scripts/export_openapi.py` whenever the API's models change;
`tests/test_sdk.py` fails when the committed module is not what this writes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "openapi.yaml"
MODELS = ROOT / "clients" / "python" / "chatterbox_client" / "models.py"
OPTIONS = [
    "--input-file-type", "openapi", "--output-model-type", "pydantic_v2.BaseModel", "--target-python-version", "3.10",
    "--use-standard-collections", "--use-union-operator", "--field-constraints", "--collapse-root-models",
    "--enum-field-as-literal", "all", "--use-annotated", "--use-type-alias", "--formatters", "builtin", "--disable-timestamp",
]
HEADER = '"""The API\'s request and response models, generated from docs/openapi.yaml by\nscripts/generate_client_models.py: do not edit."""\n'


def generated() -> str:
    """The module's text as the generator writes it now."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "models.py"
        command = [str(Path(sys.executable).parent / "datamodel-codegen"), "--input", str(SCHEMA), "--output", str(output), *OPTIONS]
        subprocess.run(command, check=True, capture_output=True, text=True)
        body = output.read_text()
    return HEADER + body[body.index("from __future__") :]


def main() -> None:
    MODELS.write_text(generated())


if __name__ == "__main__":
    main()
