#!/usr/bin/env bash
# The Debian package check (.ci/run calls it after the test runs): packages the debug binary the
# tests built (packaging/build-deb.sh --dev), installs it with dpkg -i, checks the unit
# (systemd-analyze verify and an offline security score), the man pages and the completions,
# then starts the INSTALLED binary with the unit's ExecStart as the hookflow user (no new
# privileges, no capabilities, the unit's environment file and umask), checks /healthz, runs a
# python step through the installed CLI, stops it (SIGTERM, clean exit) and purges the package.
# Leaves the machine as it found it; exits non-zero on any failure, saying which.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "check-deb: needs root (dpkg -i) or sudo" >&2; exit 1; }
    sudo="sudo"
fi

fail() {
    echo "check-deb: FAILED: $*" >&2
    exit 1
}
step() { echo "check-deb: $*"; }

unit=/usr/lib/systemd/system/hookflow.service
work="$(mktemp -d)"
chmod 755 "$work"
installed=0
made_user=0
server_pid=""

cleanup() {
    local rc=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        $sudo kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [ "$installed" = 1 ]; then
        $sudo dpkg --purge hookflow >/dev/null 2>&1 || true
    fi
    if [ "$made_user" = 1 ] && getent passwd hookflow >/dev/null; then
        $sudo deluser --system hookflow >/dev/null 2>&1 || true
        getent group hookflow >/dev/null && $sudo delgroup --system hookflow >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# Never touch a real installation.
if dpkg-query -W -f '${Status}' hookflow 2>/dev/null | grep -q 'installed'; then
    fail "a hookflow package is installed on this machine; remove it first (dpkg --purge hookflow)"
fi
[ ! -e /var/lib/hookflow ] || fail "/var/lib/hookflow exists (a purge would delete it); move it away first"
getent passwd hookflow >/dev/null || made_user=1

# The binary under test is the one `cargo test --workspace` built (a no-op after .ci/run's
# first step; same features, so nothing is rebuilt).
step "making sure target/debug/hookflow is current"
cargo test --workspace --locked --no-run >"$work/cargo.log" 2>&1 ||
    { tail -n 40 "$work/cargo.log" >&2; fail "cargo test --workspace --no-run (building the debug binary)"; }

step "building the package"
command -v cargo-deb >/dev/null 2>&1 ||
    step "cargo-deb is missing: build-deb.sh installs it first (a few minutes, once per machine)"
deb="$(packaging/build-deb.sh --dev 2>"$work/build.log" | tail -n 1)" ||
    { tail -n 40 "$work/build.log" >&2; fail "packaging/build-deb.sh --dev"; }
[ -f "$deb" ] || { tail -n 40 "$work/build.log" >&2; fail "no package built"; }
step "package: $deb ($(du -h "$deb" | cut -f1))"

if ! command -v adduser >/dev/null 2>&1; then
    step "adduser is missing (the package depends on it): installing it"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq adduser
fi

step "dpkg -i"
installed=1
$sudo dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
for f in /usr/bin/hookflow "$unit" /etc/default/hookflow \
    /usr/share/bash-completion/completions/hookflow /usr/share/zsh/vendor-completions/_hookflow \
    /usr/share/fish/vendor_completions.d/hookflow.fish /usr/share/man/man1/hookflow.1.gz \
    /usr/share/man/man1/hookflow-serve.1.gz; do
    [ -f "$f" ] || fail "the package did not install $f"
done
getent passwd hookflow >/dev/null || fail "postinst did not create the hookflow user"
[ "$(stat -c %a /etc/default/hookflow)" = 600 ] || fail "/etc/default/hookflow is not mode 0600"
dpkg-query -W -f '${Conffiles}' hookflow | grep -q /etc/default/hookflow ||
    fail "/etc/default/hookflow is not a conffile"

# The unit.
if command -v systemd-analyze >/dev/null 2>&1; then
    step "systemd-analyze verify $unit"
    if ! $sudo systemd-analyze verify "$unit" >"$work/verify.log" 2>&1; then
        cat "$work/verify.log" >&2
        fail "systemd-analyze verify"
    fi
    # Anything it says about hookflow.service is a finding (other units' noise is not ours).
    if grep -i 'hookflow' "$work/verify.log"; then
        fail "systemd-analyze verify has something to say about the unit (above)"
    fi
    step "systemd-analyze verify: no findings"
    # An exposure regression (a sandboxing line dropped or weakened) fails the check.
    if $sudo systemd-analyze security --offline=yes --threshold=22 "$unit" >"$work/security.log" 2>&1; then
        step "systemd-analyze security: $(grep -i 'overall exposure' "$work/security.log" | sed 's/^→ *//')"
    else
        cat "$work/security.log" >&2
        fail "systemd-analyze security --offline: exposure above 2.2, the unit's level when this check was written (or it could not run)"
    fi
else
    step "SKIPPED systemd-analyze: not installed (package systemd; not installed here for a check)"
fi

# Man pages and completions.
step "man pages"
for page in hookflow hookflow-serve; do
    MANWIDTH=100 man --warnings -l "/usr/share/man/man1/$page.1.gz" >"$work/$page.txt" 2>"$work/$page.err" ||
        fail "man -l $page.1.gz"
    [ ! -s "$work/$page.err" ] || { cat "$work/$page.err" >&2; fail "man $page: groff warnings (above)"; }
done
grep -q 'hookflow-serve(1)' "$work/hookflow.txt" || fail "man hookflow does not list hookflow-serve(1)"
grep -q 'HOOKFLOW_PUBLIC_URL' "$work/hookflow-serve.txt" || fail "man hookflow-serve has no variables"
step "bash completion"
bash -c 'source /usr/share/bash-completion/completions/hookflow && complete -p hookflow' >/dev/null ||
    fail "the bash completion does not load"
# What bash would offer after "hookflow web": the completion function run by hand.
offered="$(bash -c 'source /usr/share/bash-completion/completions/hookflow
    COMP_WORDS=(hookflow web); COMP_CWORD=1; COMP_LINE="hookflow web"; COMP_POINT=${#COMP_LINE}
    _hookflow hookflow web hookflow; echo "${COMPREPLY[*]}"')"
[ "$offered" = webhook ] || fail "bash completion of 'hookflow web' offered '$offered', not 'webhook'"
for sh in zsh fish; do
    if command -v "$sh" >/dev/null 2>&1; then
        file=/usr/share/zsh/vendor-completions/_hookflow
        [ "$sh" = fish ] && file=/usr/share/fish/vendor_completions.d/hookflow.fish
        "$sh" -n "$file" || fail "$sh cannot parse $file"
        step "$sh completion parses"
    else
        step "SKIPPED the $sh completion's syntax check: $sh is not installed"
    fi
done

# The installed binary, started with the unit's command line, as the unit would.
exec_start="$(sed -n 's/^ExecStart=[-@+!:]*//p' "$unit")"
[ -n "$exec_start" ] || fail "no ExecStart in $unit"
[ "${exec_start%% *}" = /usr/bin/hookflow ] || fail "ExecStart runs ${exec_start%% *}, not /usr/bin/hookflow"
grep -q '^StateDirectory=hookflow$' "$unit" || fail "the unit has no StateDirectory=hookflow"
step "starting: $exec_start (as hookflow)"
# What systemd does before ExecStart: StateDirectory= (0700, owned by User=), and the
# environment file (only KEY=VALUE lines; the packaged one sets nothing).
$sudo install -d -m 0700 -o hookflow -g hookflow /var/lib/hookflow
env_args=()
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    env_args+=("$line")
done < <($sudo cat /etc/default/hookflow)
token="check-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# Port 0: the server prints the address it got. The token is the one an admin would set.
env_args+=(HOOKFLOW_LISTEN=127.0.0.1:0 "HOOKFLOW_ADMIN_TOKEN=$token")
# shellcheck disable=SC2086 # ExecStart is split into words, as systemd does
(umask 0077 && exec $sudo setpriv --reuid=hookflow --regid=hookflow --init-groups \
    --no-new-privs --bounding-set=-all --inh-caps=-all \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/var/lib/hookflow \
    "${env_args[@]}" $exec_start) >"$work/server.log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
    addr="$(sed -n 's|^hookflow listening on http://||p' "$work/server.log")"
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$work/server.log" >&2; fail "the installed server did not start (log above)"; }
step "listening on $addr"
health="$(curl -s -o "$work/health.txt" -w '%{http_code}' "http://$addr/healthz")" || true
[ "$health" = 200 ] || { cat "$work/health.txt" "$work/server.log" >&2; fail "/healthz answered $health"; }
step "/healthz: 200"
[ "$(stat -c '%U %a' /var/lib/hookflow/master.key)" = "hookflow 600" ] ||
    fail "master.key is not the hookflow user's, mode 0600"
if ! grep -q 'python steps run .* sandboxed' "$work/server.log"; then
    grep -i python "$work/server.log" >&2 || true
    fail "python steps cannot run sandboxed as the hookflow user (log above)"
fi
step "$(grep -o 'python steps run .*' "$work/server.log" | head -n 1)"

# A python step, through the installed CLI: it runs as the hookflow user (outside its user
# namespace), who owns /var/lib/hookflow, so only the sandbox (Landlock) keeps it from master.key.
cat >"$work/check.yaml" <<'EOF'
name: package-check
outputs: [{name: key, type: string}]
steps:
  - id: py
    type: python
    script: |
      try:
          open("/var/lib/hookflow/master.key", "rb").read()
          key = "readable"
      except OSError as e:
          key = type(e).__name__
    variables: [{name: key, type: string}]
  - id: done
    type: complete
    outputs: {key: "{{ steps.py.output.variables.key }}"}
EOF
export HOOKFLOW_URL="http://$addr" HOOKFLOW_TOKEN="$token"
/usr/bin/hookflow workflow apply -f "$work/check.yaml" >"$work/apply.log" 2>&1 ||
    { cat "$work/apply.log" >&2; fail "hookflow workflow apply"; }
/usr/bin/hookflow workflow run package-check --wait 60 >"$work/run.json" 2>&1 ||
    { cat "$work/run.json" "$work/server.log" >&2; fail "the python step's run did not succeed"; }
grep -q '"key": *"PermissionError"' "$work/run.json" ||
    { cat "$work/run.json" >&2; fail "the python step could read master.key (or did not run)"; }
step "python step ran; the sandbox kept it out of /var/lib/hookflow (PermissionError)"

step "stopping (SIGTERM)"
$sudo kill -TERM "$server_pid" 2>/dev/null || kill -TERM "$server_pid"
for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && fail "the server did not stop within 30 s of SIGTERM"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || { cat "$work/server.log" >&2; fail "the server exited with status $rc on SIGTERM"; }

step "dpkg --purge"
$sudo dpkg --purge hookflow >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
installed=0
for f in /usr/bin/hookflow "$unit" /etc/default/hookflow /var/lib/hookflow; do
    [ ! -e "$f" ] || fail "$f is still there after the purge"
done
step "passed in $((SECONDS - started)) s"
