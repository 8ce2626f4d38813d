#!/usr/bin/env bash
# HTTPS benchmark: Portico and nginx terminating TLS with the same certificate, in one run,
# with the same pinning as ../shared/bench/anchors.sh (proxy on CPU 0 alone; load generator and
# upstream on CPU 1). Prints a Markdown table of requests/s and the ratio to nginx for:
#   ka     HTTPS/1.1 keep-alive (wrk)
#   close  a new TCP connection and TLS handshake per request (wrk, Connection: close)
#   h2     HTTP/2, 64 connections × 10 streams (h2load)
# Usage: bash bench/https.sh            (after npm run build; needs nginx, wrk, h2load, openssl)
#        DURATION=5 ROUNDS=3 bash bench/https.sh
# Loopback only; every process it starts is ended by the trap.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
UP_PORT=${UP_PORT:-18180}
NGINX_PORT=${NGINX_PORT:-18181}
PORTICO_PORT=${PORTICO_PORT:-18182}
PIN_PROXY=${PIN_PROXY:-0}
PIN_LOAD=${PIN_LOAD:-1}
NODE=${NODE:-node_modules/.bin/node}

for cmd in nginx wrk h2load openssl taskset; do
  command -v "$cmd" >/dev/null || { echo "bench/https.sh needs $cmd (apt-get install nginx wrk nghttp2-client openssl util-linux)" >&2; exit 1; }
done
[ -f dist/cli.js ] || { echo "run npm run build first" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# one ECDSA P-256 certificate for bench.local, used by both proxies
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.local \
  -addext subjectAltName=DNS:bench.local -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

# upstream: nginx, 1 worker, answers "ok\n"
mkdir -p "$tmp/up" "$tmp/ng" "$tmp/manifests"
cat > "$tmp/up/nginx.conf" <<EOF
worker_processes 1; daemon off; error_log stderr error; pid $tmp/up/pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP_PORT; location / { return 200 "ok\n"; } } }
EOF
taskset -c "$PIN_LOAD" nginx -p "$tmp/up" -c "$tmp/up/nginx.conf" & pids+=($!)

# nginx as the TLS-terminating proxy, 1 worker, same certificate
cat > "$tmp/ng/nginx.conf" <<EOF
worker_processes 1; daemon off; error_log stderr error; pid $tmp/ng/pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server { listen 127.0.0.1:$NGINX_PORT ssl http2; server_name bench.local;
    ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
EOF
taskset -c "$PIN_PROXY" nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" & pids+=($!)

# Portico, file mode, the same certificate as the bench.local Secret
b64() { base64 -w0 < "$1"; }
cat > "$tmp/manifests/bench.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-tls, namespace: bench }
type: kubernetes.io/tls
data: { tls.crt: $(b64 "$tmp/cert.pem"), tls.key: $(b64 "$tmp/key.pem") }
---
apiVersion: v1
kind: Service
metadata: { name: up, namespace: bench }
spec: { ports: [{ port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: up-1, namespace: bench, labels: { kubernetes.io/service-name: up } }
addressType: IPv4
ports: [{ port: $UP_PORT }]
endpoints: [{ addresses: ["127.0.0.1"] }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench, namespace: bench }
spec:
  ingressClassName: portico
  tls: [{ hosts: [bench.local], secretName: bench-tls }]
  rules: [{ host: bench.local, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: up, port: { number: 80 } } } }] } }]
EOF
taskset -c "$PIN_PROXY" "$NODE" dist/cli.js --manifests "$tmp/manifests" --bind-address 127.0.0.1 --http-port 0 \
  --https-port "$PORTICO_PORT" --health-port 0 --access-log false --log-level warn \
  --default-ssl-certificate bench/bench-tls --workers "${PORTICO_WORKERS:-0}" & pids+=($!)

for i in $(seq 1 100); do
  curl -skf --resolve "bench.local:$PORTICO_PORT:127.0.0.1" "https://bench.local:$PORTICO_PORT/" >/dev/null 2>&1 &&
  curl -skf --resolve "bench.local:$NGINX_PORT:127.0.0.1" "https://bench.local:$NGINX_PORT/" >/dev/null 2>&1 && break
  sleep 0.2
done

load() { # load PORT SCENARIO SECONDS → requests/s
  local port=$1 sc=$2 d=$3
  case "$sc" in
    ka) taskset -c "$PIN_LOAD" wrk -t2 -c64 -d"${d}s" -H 'Host: bench.local' "https://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}' ;;
    close) taskset -c "$PIN_LOAD" wrk -t2 -c64 -d"${d}s" -H 'Host: bench.local' -H 'Connection: close' "https://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}' ;;
    h2) taskset -c "$PIN_LOAD" h2load -t2 -c64 -m10 -D "$d" -H ':authority: bench.local' "https://127.0.0.1:$port/" | awk '/^finished in/ {gsub(/,/,""); print $4}' ;;
  esac
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# warm-up (Node's JIT needs a few seconds)
load "$PORTICO_PORT" ka 5 >/dev/null; load "$NGINX_PORT" ka 2 >/dev/null

echo "HTTPS, $(date -u +%Y-%m-%d), DURATION=${DURATION}s × ROUNDS=$ROUNDS, proxy on CPU $PIN_PROXY, load+upstream on CPU $PIN_LOAD"
echo
echo "| scenario | nginx 1 worker req/s | Portico req/s | Portico ÷ nginx |"
echo "|---|---:|---:|---:|"
for sc in ka close h2; do
  n=(); p=()
  for r in $(seq 1 "$ROUNDS"); do
    n+=("$(load "$NGINX_PORT" "$sc" "$DURATION")")
    p+=("$(load "$PORTICO_PORT" "$sc" "$DURATION")")
  done
  nm=$(printf '%s\n' "${n[@]}" | median); pm=$(printf '%s\n' "${p[@]}" | median)
  printf '| %s | %.0f | %.0f | %.2f |\n' "$sc" "$nm" "$pm" "$(echo "$pm / $nm" | bc -l)"
done
