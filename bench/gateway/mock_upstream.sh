# bench/gateway/mock_upstream.sh — sourced by the benchmarks that need the mock OpenAI upstream
# (bench/gateway/run.sh, bench/telemetry/gateway_onoff.sh): free loopback ports and the upstream's
# nginx config. Not run on its own.

# free_ports N: asks the kernel for N free ports on 127.0.0.1 (bound together, so they are distinct).
free_ports() {
  node -e '
    const net = require("net"); const n = +process.argv[1]; const s = []; let k = 0;
    for (let i = 0; i < n; i++) { const v = net.createServer(); s.push(v);
      v.listen(0, "127.0.0.1", () => { if (++k === n) { console.log(s.map(x => x.address().port).join(" ")); s.forEach(x => x.close()); } }); }' "$1"
}

# mock_upstream_conf DIR PORT: prints the upstream's nginx.conf — fixed bodies from DIR/www
# (bench/gateway/fixtures.js), pid and error log in DIR/upstream; POST is answered like GET
# (error_page 405).
mock_upstream_conf() {
  local dir=$1 port=$2
  cat <<EOF
# mock OpenAI upstream: fixed bodies from $dir/www; POST is answered like GET (error_page 405).
worker_processes 1;
pid $dir/upstream/nginx.pid;
error_log $dir/upstream/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  etag off;
  server {
    listen 127.0.0.1:$port backlog=4096;
    root $dir/www;
    types {}
    location /v1/ { default_type application/json; error_page 405 =200 \$uri; }
    location /stream/v1/ { default_type text/event-stream; error_page 405 =200 \$uri; }
  }
}
EOF
}
