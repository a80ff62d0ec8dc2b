# bench/real_programs_servers.sh: nginx and memcached under load, for bench/real_programs.sh.
#
# Sourced by real_programs.sh (uses its TMP, HS, vg_blocks, row). Each server listens on
# 127.0.0.1 only, gets a bounded load from this machine, then is analysed while it runs (attach)
# and after a graceful stop (exit). Expected: nothing leaked.

NGINX_PORT=18087
MEMCACHED_PORT=18211

nginx_conf() { # dir → writes dir/nginx.conf for a single-process nginx on 127.0.0.1
  local d=$1
  mkdir -p "$d/html" "$d/logs"
  for i in $(seq 20); do head -c $((i * 700)) /dev/urandom | base64 >"$d/html/f$i.txt"; done
  cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi;
  uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $d/html;
    location / { gzip on; gzip_types text/plain; }
  }
}
EOF
}

nginx_load() { # 1,200 requests: files, gzip, 404s, keep-alive (bounded, loopback only)
  for round in 1 2 3; do
    for i in $(seq 20); do
      echo "url = \"http://127.0.0.1:$NGINX_PORT/f$i.txt\""
      echo 'output = "/dev/null"'
      echo "url = \"http://127.0.0.1:$NGINX_PORT/missing$i\""
      echo 'output = "/dev/null"'
    done >"$TMP/urls.$round"
    local pids=()
    for k in $(seq 10); do
      curl -s --compressed -K "$TMP/urls.$round" --max-time 10 &
      pids+=($!)
    done
    # Only the clients: a bare `wait` would wait for the server too.
    wait "${pids[@]}"
  done
}

memcached_load() { # 6,000 commands over 4 connections, values 10 B–20 KB (loopback only)
  python3 - "$MEMCACHED_PORT" <<'EOF'
import socket, sys, threading
port = int(sys.argv[1])
def client(c):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    for i in range(500):
        key = f"k{c}-{i % 200}"
        val = b"v" * (10 + (i * 37) % 20000)
        s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(val), val)); f.readline()
        s.sendall(b"get %s\r\n" % key.encode())
        while f.readline() != b"END\r\n": pass
        if i % 3 == 0: s.sendall(b"delete %s\r\n" % key.encode()); f.readline()
    s.close()
ts = [threading.Thread(target=client, args=(c,)) for c in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
}

stop_and_wait() { # signal pid: stop a server, and make sure it is gone within 30 s
  kill "-$1" "$2" 2>/dev/null || true
  local end=$((SECONDS + 30))
  while kill -0 "$2" 2>/dev/null; do
    ((SECONDS < end)) || { kill -KILL "$2" 2>/dev/null; break; }
    sleep 0.1
  done
  wait "$2" 2>/dev/null || true
}

wait_port() { # port: until it accepts (at most 60 s)
  local end=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < end)) || { echo "port $1 never opened" >&2; return 1; }
    sleep 0.1
  done
}

# serve name start-command load-function stop-signal: the four measurements of one server.
serve() {
  local name=$1 load=$3 stop=$4
  local -a cmd
  read -r -a cmd <<<"$2"
  local d="$TMP/srv-$name"
  mkdir -p "$d"
  local port=$NGINX_PORT
  [[ $name == memcached ]] && port=$MEMCACHED_PORT
  # valgrind attach, then its exit after a graceful stop
  valgrind --vgdb=yes --vgdb-error=1000000 --leak-check=full --show-leak-kinds=all \
    --num-callers=64 --log-file="$d/vg.log" "${cmd[@]}" >/dev/null 2>&1 &
  local vpid=$!
  wait_port "$port"; "$load"
  vgdb --pid="$vpid" leak_check full kinds all >"$d/vg.check" 2>&1
  stop_and_wait "$stop" "$vpid"
  local va vap ve vep
  va=$(($(vg_blocks "$d/vg.check" definitely) + $(vg_blocks "$d/vg.check" indirectly)))
  vap=$(vg_blocks "$d/vg.check" possibly)
  ve=$(($(vg_blocks "$d/vg.log" definitely) + $(vg_blocks "$d/vg.log" indirectly)))
  vep=$(vg_blocks "$d/vg.log" possibly)
  # heapscope attach
  "${cmd[@]}" >/dev/null 2>&1 &
  local pid=$!
  wait_port "$port"; "$load"
  local t0=$EPOCHREALTIME
  "$HS" "$pid" -o "$d/attach.json" --quiet || true
  local t1=$EPOCHREALTIME
  stop_and_wait "$stop" "$pid"
  # heapscope run to a graceful stop
  "$HS" run -o "$d/run.json" --quiet -- "${cmd[@]}" >/dev/null 2>&1 &
  local hpid=$!
  wait_port "$port"; "$load"
  pkill "-$stop" -P "$hpid" || true
  wait "$hpid" || true
  row "$name (under load)" "$va $vap" \
    "$(jq -r '"\(.summary.leaked) \(.summary.possible // 0)"' "$d/attach.json") $(printf '%.1f' "$(echo "$t1 - $t0" | bc)")" \
    "$ve $vep" "$(jq -r '"\(.summary.leaked) \(.summary.possible // 0)"' "$d/run.json")"
}

server_rows() {
  local nd="$TMP/nginx"
  nginx_conf "$nd"
  # TERM: nginx's fast shutdown (QUIT waits for idle keep-alive connections to close).
  serve nginx "nginx -p $nd -c $nd/nginx.conf" nginx_load TERM
  # memcached sets its file limit (soft and hard) to its connection count, and valgrind refuses
  # any hard limit but its own: the hard limit less the 12 descriptors valgrind keeps (measured:
  # 20000 → 19988 starts, 19990 and 19980 fail). Native runs use the same count.
  local conns=$(($(ulimit -Hn) - 12))
  serve memcached "memcached -l 127.0.0.1 -p $MEMCACHED_PORT -U 0 -t 4 -m 64 -c $conns -u root" \
    memcached_load TERM
}
