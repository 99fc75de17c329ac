#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tree's own style, checked in CI: every C/C++ file is formatted by the repository's
# .clang-format, and every source, script and CMake file carries an SPDX license line.
# Fix with: clang-format -i $(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 || { echo "not a git checkout"; exit 77; }
command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 77; }
bad=0
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')
if ! clang-format --dry-run --Werror "${sources[@]}" 2>/tmp/convme-format.$$; then
  echo "FAIL: files not formatted with .clang-format:"
  grep -oE '^[^:]+\.(cpp|hpp|h|c)' /tmp/convme-format.$$ | sort -u | sed 's/^/  /'
  head -20 /tmp/convme-format.$$
  bad=1
fi
rm -f /tmp/convme-format.$$
mapfile -t licensed < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' '*.sh' '*.py' '*.cmake' '*CMakeLists.txt' '*.fio' '*.map' '*.in')
missing=()
for f in "${licensed[@]}"; do
  head -3 "$f" | grep -q 'SPDX-License-Identifier: MIT' || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "FAIL: no 'SPDX-License-Identifier: MIT' line in the first 3 lines of:"
  printf '  %s\n' "${missing[@]}"
  bad=1
fi
[ $bad -eq 0 ] && echo "style ok: ${#sources[@]} C/C++ files formatted, ${#licensed[@]} files licensed"
exit $bad
