#!/usr/bin/env bash
# Compile the plain Kotlin module and its JUnit4 tests with kotlinc (Debian's kotlin 1.3 is enough) and run
# them with plain java. Exits non-zero when a test fails.
#
#   bash android_demo/core/test.sh GOLDEN_DIR [VERIFY_GOLDEN_DIR]
#
# GOLDEN_DIR: the repository's tests/golden. VERIFY_GOLDEN_DIR: a folder written by
# `tokenreel verify DIR --write-golden VERIFY_GOLDEN_DIR` (its tests are skipped without it).
# Optional, from the environment: TOKENREEL_EDIT_CASES (edit-cases.json written by
# tests/test_android_core.py) and TOKENREEL_EXPORT_DIR (an export folder whose manifest is read and verified).
# Needs: apt-get install kotlin junit4 (setup.sh does it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 GOLDEN_DIR [VERIFY_GOLDEN_DIR]" >&2; exit 2; }
golden="$(cd "$1" && pwd)"
verify="${2:+$(cd "$2" && pwd)}"
command -v kotlinc >/dev/null || { echo "kotlinc not found: apt-get install kotlin junit4 (or run setup.sh)" >&2; exit 2; }
classpath=/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
for jar in ${classpath//:/ }; do
  [ -f "$jar" ] || { echo "$jar not found: apt-get install junit4" >&2; exit 2; }
done

build="$here/build/kotlinc"
mkdir -p "$build"
sources=$(find "$here/src/main/kotlin" "$here/src/test/kotlin" -name '*.kt' | sort)
# kotlinc 1.3 takes a minute: compile again only when a source changed
stamp=$(cat $sources | sha256sum | cut -c1-64)
jar="$build/core-tests.jar"
if [ ! -f "$jar" ] || [ "$(cat "$build/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$jar" "$build/stamp"
  echo "compiling $(echo "$sources" | wc -l) Kotlin files..." >&2
  # kotlinc is a JVM too: quiet its JDK-17 warning about -Xverify:none
  nice kotlinc -nowarn -jvm-target 1.8 -cp "$classpath" -include-runtime -d "$jar" $sources 2>&1 \
    | grep -v -e 'Options -Xverify:none and -noverify were deprecated' >&2 || true
  [ -f "$jar" ] || { echo "compilation failed" >&2; exit 1; }
  echo "$stamp" > "$build/stamp"
fi

tests=$(cd "$here/src/test/kotlin" && grep -l '@Test' $(find . -name '*.kt') | sed 's|^\./||' | xargs -n1 grep -h '^class .*Test\b' \
  | sed -E 's/^class ([A-Za-z0-9_]+).*/tokenreel.core.\1/' | sort -u)
props=(-Dtokenreel.golden="$golden")
[ -n "$verify" ] && props+=(-Dtokenreel.verifyGolden="$verify")
[ -n "${TOKENREEL_EDIT_CASES:-}" ] && props+=(-Dtokenreel.editCases="$TOKENREEL_EDIT_CASES")
[ -n "${TOKENREEL_EXPORT_DIR:-}" ] && props+=(-Dtokenreel.export="$TOKENREEL_EXPORT_DIR")
exec java "${props[@]}" -cp "$jar:$classpath" org.junit.runner.JUnitCore $tests
