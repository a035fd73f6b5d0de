#!/usr/bin/env bash
# Regenerates the protobuf-c code in Sources/SomaProto from Schemas/*.proto.
#   Tools/generate-protos.sh            # writes the generated files
#   Tools/generate-protos.sh --check    # fails if the committed files differ
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for proto in Schemas/*.proto; do
    protoc-c --c_out="$out" -I Schemas "$proto"
done
# The headers go to the C target's public include folder, the sources beside it; the
# sources include their headers by bare name, which the include folder satisfies.
if [ "${1:-}" = "--check" ]; then
    status=0
    for f in "$out"/*.pb-c.h; do cmp -s "$f" "Sources/SomaProto/include/$(basename "$f")" || { echo "stale: $(basename "$f")"; status=1; }; done
    for f in "$out"/*.pb-c.c; do cmp -s "$f" "Sources/SomaProto/$(basename "$f")" || { echo "stale: $(basename "$f")"; status=1; }; done
    [ $status -eq 0 ] && echo "generated protobuf-c code is up to date"
    exit $status
fi
rm -f Sources/SomaProto/*.pb-c.c Sources/SomaProto/include/*.pb-c.h
cp "$out"/*.pb-c.h Sources/SomaProto/include/
cp "$out"/*.pb-c.c Sources/SomaProto/
echo "generated $(ls "$out" | wc -l) files into Sources/SomaProto"
