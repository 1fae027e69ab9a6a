#!/usr/bin/env bash
# Every endpoint of docs/api.md with curl, in an order that works on an empty server:
#
#   CHATTERBOX_URL=http://localhost:3000 CHATTERBOX_API_KEY=... examples/curl/every_endpoint.sh my_voice.wav
#
# The argument is any 5-30 s recording of one speaker (wav, mp3, flac, ogg). The script
# creates voices named example-*, a few outputs, and removes what it created at the end.
# tests/test_examples.py runs it against the test stack, so every command here works.
set -euo pipefail

VOICE_FILE=${1:?usage: every_endpoint.sh VOICE_RECORDING}
URL=${CHATTERBOX_URL:-http://localhost:3000}
AUTH=()
[ -n "${CHATTERBOX_API_KEY:-}" ] && AUTH=(-H "Authorization: Bearer $CHATTERBOX_API_KEY")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

api() {  # curl with the key; a refusal shows the server's JSON error and stops the script
  local answer
  answer=$(curl --silent --show-error --fail-with-body "${AUTH[@]}" "$@") || { printf '%s\n' "$answer" >&2; return 1; }
  printf '%s\n' "$answer"
}
field() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }  # an expression of the JSON on stdin, `d`
step() { printf '\n== %s\n' "$*" >&2; }

step "GET /api/v1/health: readiness of the storage and every model"
api "$URL/api/v1/health" | field 'd["status"]'

step "GET /metrics: Prometheus (no key needed)"
curl --silent --show-error --fail "$URL/metrics" | grep -c '^bentoml_' >/dev/null

step "POST /api/v1/voice: upload a voice with metadata"
api -F "file=@$VOICE_FILE" -F name=example-alex -F folder=examples/en -F tags=english,example \
    -F description="Example narrator" -F exaggeration=0.6 -F overwrite=true "$URL/api/v1/voice" | field 'd["voice"]["name"]'

step "POST /api/v1/voices/bulk: several files at once, one result each"
cp "$VOICE_FILE" "$WORK/example-bella.${VOICE_FILE##*.}"
api -F "files=@$WORK/example-bella.${VOICE_FILE##*.}" -F folder=examples -F tags=example -F overwrite=true \
    "$URL/api/v1/voices/bulk" | field 'd["created"] + d["replaced"]'

step "GET /api/v1/voices: search, filter, sort, page"
api "$URL/api/v1/voices?search=example&tag=english&sort=name&page_size=10" | field 'd["total"]'

step "GET /api/v1/voice/{name}: one voice (its ETag in the headers)"
ETAG=$(api -D - -o /dev/null "$URL/api/v1/voice/example-alex" | tr -d '\r' | sed -n 's/^etag: //Ip')

step "GET /api/v1/voice/{name}/audio: the uploaded recording"
api -o "$WORK/reference" "$URL/api/v1/voice/example-alex/audio"

step "PUT /api/v1/voice/{name}/metadata: edit, only if unchanged since read (If-Match)"
api -X PUT -H "If-Match: $ETAG" -H 'Content-Type: application/json' \
    -d '{"display_name": "Alex (example)", "defaults": {"cfg_weight": 0.4}}' \
    "$URL/api/v1/voice/example-alex/metadata" | field 'd["voice"]["display_name"]'

step "GET /api/v1/voices/folders and /api/v1/voices/stats"
api "$URL/api/v1/voices/folders" | field 'd["total_count"]'
api "$URL/api/v1/voices/stats?limit=5" | field 'd["total_voices"]'

step "POST /api/v1/tts: speech, stored; the answer names the output"
OUTPUT=$(api -H 'Content-Type: application/json' \
    -d '{"text": "Hello from the example script.", "voice": "example-alex", "seed": 42, "response_mode": "url"}' \
    "$URL/api/v1/tts" | field 'd["filename"]')

step "POST /api/v1/tts: streamed while generated, as mp3, a little faster"
api -H 'Content-Type: application/json' \
    -d '{"text": "Streamed while it is generated.", "voice": "example-alex", "speed_factor": 1.2, "output_format": "mp3", "response_mode": "stream"}' \
    -o "$WORK/streamed.mp3" "$URL/api/v1/tts"

step "POST /api/v1/vc: voice conversion of an uploaded file, and of a stored output"
api -o "$WORK/speech.wav" "$URL/api/v1/outputs/$OUTPUT"
api -F "input_audio=@$WORK/speech.wav" -F target_voice=example-bella -F output_format=wav -F response_mode=stream -o "$WORK/converted.wav" "$URL/api/v1/vc"
CONVERTED=$(api -F "input_filename=$OUTPUT" -F target_voice=example-bella -F response_mode=url "$URL/api/v1/vc" | field 'd["filename"]')

step "GET /api/v1/outputs: browse, filter, search"
api "$URL/api/v1/outputs?voice=example-alex&type=tts&sort=created&order=desc" | field 'd["total"]'

step "POST /api/v1/outputs/lookup: many names at once"
api -H 'Content-Type: application/json' -d "{\"names\": [\"$OUTPUT\", \"$CONVERTED\"]}" \
    "$URL/api/v1/outputs/lookup" | field 'd["missing"]'

step "HEAD and GET /api/v1/outputs/{filename}: size, then a byte range"
api --head "$URL/api/v1/outputs/$OUTPUT" | tr -d '\r' | grep -i '^content-length'
api -H 'Range: bytes=0-43' -o "$WORK/header.bin" "$URL/api/v1/outputs/$OUTPUT"

step "POST /api/v1/concat: outputs, a silence and an upload joined (short: answered at once)"
JOINED=$(api -F "request={\"inputs\": [{\"output\": \"$OUTPUT\"}, {\"silence_ms\": 500}, {\"upload\": 0}], \"crossfade_ms\": 50, \"response_mode\": \"url\"}" \
    -F "files=@$WORK/converted.wav" "$URL/api/v1/concat" | field 'd["filename"]')

step "POST /api/v1/concat: longer than concat.sync_max_seconds, so a background job (202)"
JOB=$(api -H 'Content-Type: application/json' \
    -d '{"inputs": [{"silence_ms": 305000}, {"output": "'"$OUTPUT"'"}, {"silence_ms": 305000}], "sample_rate": 8000, "response_mode": "url"}' \
    "$URL/api/v1/concat" | field 'd["id"]')

step "GET /api/v1/jobs/{id}: follow it to the end"
until STATUS=$(api "$URL/api/v1/jobs/$JOB" | field 'd["status"]') && [ "$STATUS" != queued ] && [ "$STATUS" != running ]; do sleep 1; done
[ "$STATUS" = succeeded ]
LONG=$(api "$URL/api/v1/jobs/$JOB" | field 'd["result_filename"]')

step "DELETE /api/v1/jobs/{id}: cancel a job (this one has ended: it is answered as it is)"
api -X DELETE "$URL/api/v1/jobs/$JOB" | field 'd["status"]'

step "GET /v1/models, /v1/models/{model}, /v1/audio/voices: the OpenAI-compatible route"
MODEL=$(api "$URL/v1/models" | field 'd["data"][0]["id"]')   # tts-1, tts-1-hd, ...: which ones depends on the models served
api "$URL/v1/models/$MODEL" | field 'd["id"]'
api "$URL/v1/audio/voices" | field '[voice["id"] for voice in d["data"]][:3]'

step "POST /v1/audio/speech: OpenAI's speech request"
api -H 'Content-Type: application/json' \
    -d '{"model": "'"$MODEL"'", "voice": "example-alex", "input": "Hello from the OpenAI route.", "response_format": "wav"}' \
    -o "$WORK/openai.wav" "$URL/v1/audio/speech"

step "GET /api/v1/voices/export and POST /api/v1/voices/import: backup and restore"
api -o "$WORK/backup.zip" "$URL/api/v1/voices/export?folder=examples"
api -F "archive=@$WORK/backup.zip" -F on_conflict=skip "$URL/api/v1/voices/import" | field 'd["counts"]'

step "DELETE /api/v1/outputs/{filename}: what this script made"
for name in "$OUTPUT" "$CONVERTED" "$JOINED" "$LONG"; do
  api -X DELETE "$URL/api/v1/outputs/$name" | field 'd["deleted"]'
done
# the streamed and uploaded-file answers above were stored too: find them by voice
for voice in example-alex example-bella; do
  for name in $(api "$URL/api/v1/outputs?voice=$voice&page_size=100" | field '" ".join(item["filename"] for item in d["items"])'); do
    api -X DELETE "$URL/api/v1/outputs/$name" >/dev/null
  done
done

step "DELETE /api/v1/voice/{name} and DELETE /api/v1/voices: a dry run lists, confirm=true deletes"
curl --silent --show-error "${AUTH[@]}" -X DELETE "$URL/api/v1/voices?folder=examples" | field 'd["would_delete"]'
api -X DELETE "$URL/api/v1/voice/example-alex?confirm=true" | field 'd["deleted"]'
api -X DELETE "$URL/api/v1/voices?folder=examples&confirm=true" | field 'd["deleted"]'
