#!/usr/bin/env bash
#
# compose-secure-test.sh: run docker-compose.yml's `secure` profile and check
# it from the host:
#
#   1. up: secure-init, three ZooKeeper nodes, the SCRAM users, three brokers,
#      every broker healthy (its health check is the kzoo CLI over SASL_SSL);
#   2. a topic with replication factor 3 made over SASL_SSL as admin (bin/kzoo
#      --command-config), records produced and consumed back with kcat over
#      SASL_SSL (SCRAM-SHA-512) and over mTLS with admin's certificate;
#   3. refusals: a wrong password, and a client without a certificate on the
#      mTLS listener, get no metadata;
#   4. the web console's preferred election (127.0.0.1:19751) answers 401
#      without credentials or with a wrong password, and runs with admin's.
#
# The project (containers, network, volumes) is always removed at the end.
# `make compose-secure-test` builds the images and bin/kzoo first and runs it.
#
# Settings (environment):
#   COMPOSE_PROJECT     compose project name (default kzoo-secure-test)
#   KZOO_TEST_TIMEOUT   seconds to wait for each expected state (default 180)

set -euo pipefail

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly repo_root
readonly project=${COMPOSE_PROJECT:-kzoo-secure-test}
readonly timeout=${KZOO_TEST_TIMEOUT:-180}
readonly kzoo=$repo_root/bin/kzoo
readonly topic=compose-secure-test
readonly records=1000
readonly -a brokers=(1 2 3)
# Fixed test passwords, passed to compose as its settings.
export KZOO_ADMIN_PASSWORD=compose-test-admin KZOO_BROKER_PASSWORD=compose-test-broker
export KZOO_ZK_DIGEST=kzoo:compose-test-zookeeper

log() {
	printf '%s compose-secure-test: %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
	log "FAILED: $*"
	exit 1
}

declare -a compose_cmd
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	die "neither 'docker compose' nor docker-compose is installed"
fi

compose() {
	"${compose_cmd[@]}" --project-name "$project" --project-directory "$repo_root" \
		--file "$repo_root/docker-compose.yml" --profile secure "$@"
}

work=$(mktemp -d)
cleanup() {
	local status=$?
	if ((status != 0)); then
		compose logs --tail 40 >&2 || true
	fi
	compose down --volumes --remove-orphans >/dev/null 2>&1 || true
	rm -rf -- "$work"
}
trap cleanup EXIT

[[ -x $kzoo ]] || die "$kzoo not found; run make build"
command -v kcat >/dev/null || die "kcat not found; run make deps"

# wait_for WHAT COMMAND...: run COMMAND until it succeeds, for at most the
# timeout.
wait_for() {
	local what=$1 deadline=$((SECONDS + timeout))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "$what: not within ${timeout}s"
		sleep 2
	done
	log "$what"
}

healthy() {
	[[ $(docker inspect --format '{{.State.Health.Status}}' "$(compose ps -q "secure-broker$1")") == healthy ]]
}

log "up: the secure profile's brokers and what they depend on"
compose up -d secure-broker1 secure-broker2 secure-broker3
for id in "${brokers[@]}"; do
	wait_for "secure-broker$id healthy" healthy "$id"
done

# The client settings, for the host: the CA and admin's certificate from the
# secure-material volume, paths rewritten.
container=$(compose ps -q secure-broker1)
for file in ca.pem admin.pem admin.key; do
	docker cp "$container:/secure/$file" "$work/$file"
done
cat >"$work/client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KZOO_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$work/ca.pem
EOF
readonly sasl_bootstrap=127.0.0.1:19191,127.0.0.1:19192,127.0.0.1:19193
readonly mtls_bootstrap=127.0.0.1:19291,127.0.0.1:19292,127.0.0.1:19293
kcat_sasl=(kcat -b "$sasl_bootstrap" -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512
	-X sasl.username=admin -X "sasl.password=$KZOO_ADMIN_PASSWORD" -X "ssl.ca.location=$work/ca.pem")
kcat_mtls=(kcat -b "$mtls_bootstrap" -X security.protocol=SSL -X "ssl.ca.location=$work/ca.pem"
	-X "ssl.certificate.location=$work/admin.pem" -X "ssl.key.location=$work/admin.key")

"$kzoo" --bootstrap-server "$sasl_bootstrap" --command-config "$work/client.properties" \
	topics create "$topic" --partitions 3 --replication-factor 3 >/dev/null ||
	die "kzoo topics create over SASL_SSL"
log "topic $topic created over SASL_SSL"

seq 1 "$records" | sed 's/^/sasl-/' | "${kcat_sasl[@]}" -P -t "$topic" -X acks=all ||
	die "kcat produce over SASL_SSL"
seq 1 "$records" | sed 's/^/mtls-/' | "${kcat_mtls[@]}" -P -t "$topic" -X acks=all ||
	die "kcat produce over mTLS"
got=$("${kcat_mtls[@]}" -C -t "$topic" -o beginning -e -q | sort)
want=$({
	seq 1 "$records" | sed 's/^/sasl-/'
	seq 1 "$records" | sed 's/^/mtls-/'
} | sort)
[[ $got == "$want" ]] || die "consumed over mTLS: $(wc -l <<<"$got") records, not the $((2 * records)) produced"
got=$("${kcat_sasl[@]}" -C -t "$topic" -o beginning -e -q | sort)
[[ $got == "$want" ]] || die "consumed over SASL_SSL: $(wc -l <<<"$got") records, not the $((2 * records)) produced"
log "$((2 * records)) records produced and consumed over SASL_SSL and mTLS"

if kcat -b "$sasl_bootstrap" -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \
	-X sasl.username=admin -X sasl.password=wrong -X "ssl.ca.location=$work/ca.pem" -m 10 -L >/dev/null 2>&1; then
	die "a wrong password got metadata"
fi
if kcat -b "$mtls_bootstrap" -X security.protocol=SSL -X "ssl.ca.location=$work/ca.pem" -m 10 -L >/dev/null 2>&1; then
	die "a client without a certificate got metadata on the mTLS listener"
fi
log "a wrong password and a missing client certificate are refused"

# elect CURL_ARGS...: the HTTP status of a confirmed preferred election of
# $topic on broker 1's web console.
elect() {
	timeout 90 curl -s -o /dev/null -w '%{http_code}' -X POST -d confirm=yes "$@" \
		"http://127.0.0.1:19751/topics/$topic/elect-preferred"
}
code=$(elect) || true
[[ $code == 401 ]] || die "the console's election without credentials answered $code, not 401"
code=$(elect -u admin:wrong) || true
[[ $code == 401 ]] || die "the console's election with a wrong password answered $code, not 401"
code=$(elect -u "admin:$KZOO_ADMIN_PASSWORD") || true
[[ $code == 200 ]] || die "the console's election as admin answered $code, not 200"
log "the web console's election asks for credentials and runs with admin's"
log "PASSED"
