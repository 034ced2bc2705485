#!/usr/bin/env bash
# The gate step of action.yml: `evalkit check` a run against a baseline and publish the result the
# way a GitHub Actions runner expects. Runs the same on a laptop, with the runner's variables faked.
#
# Reads (environment):
#   EVALKIT_RUNS      the run folder, or the --output folder of `evalkit run` (its latest run)   required
#   EVALKIT_BASELINE  a file written by `evalkit baseline save`                                   required
#   EVALKIT_POLICY    a gate policy YAML                                          optional (the bundled one)
#   EVALKIT_REPORTS   where the reports go                                        optional (evalkit-gate)
#   EVALKIT_PYTHON    the Python that has evalkit installed                       optional (python)
#   GITHUB_WORKSPACE  relative paths above are taken from here                    optional (the current folder)
#   GITHUB_STEP_SUMMARY, GITHUB_OUTPUT      appended to when set, as a runner sets them
#   GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID   a link to the run in the comment, when all set
#
# Writes into EVALKIT_REPORTS: gate.md, gate.xml (JUnit), gate.json, comment.md (the pull-request
# comment body), report.html (`evalkit report --html`); appends gate.md to $GITHUB_STEP_SUMMARY; and
# writes verdict, exit-code, markdown-file, junit-file, json-file, comment-file and report-html to
# $GITHUB_OUTPUT. Exits with the gate's code: 0 passed, 1 regressed, 2 usage error, 3 could not compare.
set -uo pipefail

if [ -z "${EVALKIT_RUNS:-}" ] || [ -z "${EVALKIT_BASELINE:-}" ]; then
  echo "gate-action.sh: set EVALKIT_RUNS (the run or output folder) and EVALKIT_BASELINE (the baseline file)" >&2
  exit 2
fi
cd "${GITHUB_WORKSPACE:-.}" || exit 2
python="${EVALKIT_PYTHON:-python}"
reports="${EVALKIT_REPORTS:-evalkit-gate}"
mkdir -p "$reports" || exit 2
reports="$(cd "$reports" && pwd)"
markdown="$reports/gate.md" junit="$reports/gate.xml" json="$reports/gate.json"
comment="$reports/comment.md" html="$reports/report.html"
rm -f "$markdown" "$junit" "$json" "$comment" "$html"

policy=()
if [ -n "${EVALKIT_POLICY:-}" ]; then policy=(--policy "$EVALKIT_POLICY"); fi

"$python" -m evalkit.cli check "$EVALKIT_RUNS" --baseline "$EVALKIT_BASELINE" ${policy[@]+"${policy[@]}"} \
  --markdown "$markdown" --junit "$junit" --json > "$json" 2> "$reports/gate.err"
code=$?
cat "$reports/gate.err" >&2

case "$code" in
  0) verdict=passed ;;
  1) verdict=regressed ;;
  3) verdict=incomparable ;;
  *) verdict=error ;;
esac
if [ "$code" = 2 ] || [ ! -s "$markdown" ]; then
  # A usage error (a missing run, baseline or policy; an invalid policy) writes no report: say why instead.
  {
    echo "## ⛔ evalkit gate ERROR: the check could not run (exit code $code)"
    echo
    echo '```'
    cat "$reports/gate.err"
    echo '```'
  } > "$markdown"
  rm -f "$json"
fi
cat "$markdown"

{
  echo "<!-- evalkit-gate -->"
  if [ "$(wc -c < "$markdown")" -le 60000 ]; then
    cat "$markdown"
  else  # a comment holds at most 65 536 characters: the headline, and where the rest is
    head -n 1 "$markdown"
    echo
    echo "The full report is too long for a comment: see the job summary and the evalkit-gate artifact."
  fi
  if [ -n "${GITHUB_SERVER_URL:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ] && [ -n "${GITHUB_RUN_ID:-}" ]; then
    echo
    echo "[Job summary, HTML report and JUnit file]($GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID)"
  fi
} > "$comment"

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$markdown" >> "$GITHUB_STEP_SUMMARY"
fi

# The HTML report of the new run; a run that cannot be read (exit 2) has none, and a failed report never
# changes the gate's verdict.
if [ "$code" != 2 ]; then
  if ! "$python" -m evalkit.cli report "$EVALKIT_RUNS" --html "$html" > "$reports/report.txt" 2>&1; then
    echo "::warning::evalkit report --html failed (see $reports/report.txt); the gate's verdict stands"
    cat "$reports/report.txt" >&2
    rm -f "$html"
  fi
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "verdict=$verdict"
    echo "exit-code=$code"
    echo "markdown-file=$markdown"
    echo "comment-file=$comment"
    if [ -f "$junit" ]; then echo "junit-file=$junit"; fi
    if [ -f "$json" ]; then echo "json-file=$json"; fi
    if [ -f "$html" ]; then echo "report-html=$html"; fi
  } >> "$GITHUB_OUTPUT"
fi
echo "evalkit gate: $verdict (exit code $code)"
exit "$code"
