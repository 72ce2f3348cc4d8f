#!/usr/bin/env bash
# Fails on unformatted Go files and on go vet findings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Go files under version control or about to be (ignored files are skipped).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.go')
else
	mapfile -t files < <(find . -name '*.go' -not -path './.git/*')
fi
existing=()
for f in "${files[@]}"; do
	[ -f "$f" ] && existing+=("$f")
done
if [ "${#existing[@]}" -gt 0 ]; then
	unformatted=$(gofmt -l "${existing[@]}")
	if [ -n "$unformatted" ]; then
		echo "These files need 'gofmt -w':" >&2
		echo "$unformatted" >&2
		exit 1
	fi
fi
go vet ./...
