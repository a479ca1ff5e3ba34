#!/usr/bin/env bash
# make demo: brings the local stack up and shows every service answering. Later pieces turn this
# into a whole migration run on the local stack.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=deploy/local/stack
"$stack" up
echo
"$stack" status
echo
echo "The stack stays up. Its settings: eval \"\$($stack env)\"; stop it with: $stack down"
