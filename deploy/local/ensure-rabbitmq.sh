#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers at the default AMQP endpoint (shared/settings.py
# DEFAULT_AMQP_URL, on 127.0.0.1): leaves a running one alone, starts a stopped one, installs a
# missing one (Debian/Ubuntu, as root), then waits until it is up.
set -euo pipefail

port=$(sed -n 's/^AMQP_PORT, AMQPS_PORT = \([0-9]*\),.*/\1/p' "$(dirname "$0")/../../shared/settings.py")
: "${port:?cannot read AMQP_PORT from shared/settings.py}"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if port_open; then
  exit 0
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "RabbitMQ is not installed; installing rabbitmq-server from the distribution" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq rabbitmq-server >/dev/null
  else
    echo "RabbitMQ is not installed. Install it (apt-get install rabbitmq-server) or set AMQP_URL." >&2
    exit 1
  fi
fi
if ! port_open; then
  echo "starting RabbitMQ" >&2
  # Debian's wrapper starts the node through su, whose PAM limits leave it 1,024 open files:
  # a day of test stacks (hundreds of quorum queues, each with its files) runs out of them.
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    su rabbitmq -s /bin/sh -c 'ulimit -n "$(ulimit -Hn)"; cd /var/lib/rabbitmq && /usr/lib/rabbitmq/bin/rabbitmq-server -detached' || true
  else
    (ulimit -n "$(ulimit -Hn)" 2>/dev/null; rabbitmq-server -detached) || true
  fi
fi
for _ in $(seq 1 90); do
  if port_open; then
    rabbitmqctl await_startup >/dev/null 2>&1 || true
    exit 0
  fi
  sleep 1
done
echo "RabbitMQ did not start within 90s; see /var/log/rabbitmq/" >&2
exit 1
