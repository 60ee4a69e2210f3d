#!/usr/bin/env bash
# Starts (or installs, where we are root and apt-get is there) what the test suite talks to:
# Redis and PostgreSQL on 127.0.0.1, nginx and HAProxy for the router tests, Chromium for the
# console's browser test. Idempotent; prints what it did. A service that cannot be had is
# reported here, and the tests that need it skip with that reason (they fail instead under CI=true).
set -u
say() { printf 'test-services: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_ok() { [ "$(id -u)" = 0 ] && have apt-get; }
apt_updated=0
apt_install() {
  apt_ok || return 1
  if [ $apt_updated = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# Redis
if port_open 6379; then say "redis: running on 127.0.0.1:6379"
elif have redis-server; then
  mkdir -p /tmp/lc-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/lc-redis \
    --logfile /tmp/lc-redis/redis.log && say "redis: started"
else say "redis: not installed (Redis tests will skip; install redis-server)"; fi

# PostgreSQL
if port_open 5432; then say "postgresql: running on 127.0.0.1:5432"
elif have pg_ctlcluster && ls /etc/postgresql >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start && say "postgresql: started"
else say "postgresql: not installed (PostgreSQL tests will skip)"; fi

# nginx (the nginx router and the gateway-vs-nginx bench run their own nginx on loopback ports)
if have nginx || [ -x /usr/sbin/nginx ]; then say "nginx: installed"
elif apt_install nginx-light || apt_install nginx; then say "nginx: installed from Debian"
else say "nginx: not available (nginx router tests will skip)"; fi

# HAProxy (the haproxy router tests and the bench start their own haproxy on loopback ports)
if have haproxy || [ -x /usr/sbin/haproxy ]; then say "haproxy: installed"
elif apt_install haproxy; then say "haproxy: installed from Debian"
else say "haproxy: not available (haproxy router tests will skip)"; fi

# Prometheus for the prometheus metric-source test (started by the test itself on a free port)
if have prometheus || [ -x /usr/bin/prometheus ]; then say "prometheus: installed"
elif apt_install prometheus; then say "prometheus: installed from Debian"
else say "prometheus: not available (the real-Prometheus test will skip)"; fi

# Chromium for the console's headless browser test
if have chromium; then say "chromium: installed"
elif apt_install chromium; then say "chromium: installed from Debian"
else say "chromium: not available (browser test will skip)"; fi
exit 0
