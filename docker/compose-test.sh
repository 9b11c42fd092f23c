#!/usr/bin/env bash
#
# compose-test.sh: run docker-compose.yml's cluster and check it end to end
# from the host, through real faults:
#
#   1. up: three ZooKeeper nodes and three brokers, all healthy;
#   2. a topic with replication factor 3 (bin/kzoo), records produced with
#      acks=all and consumed back (kcat);
#   3. failover: SIGKILL (docker kill) the leader of partition 0; the others
#      take over its leaderships, every acknowledged record can still be
#      consumed, and producing goes on; the broker comes back into the ISR;
#   4. partition: one broker is disconnected from the compose network until
#      the cluster drops it (ZooKeeper session expiry, ISR shrink), then
#      reconnected; the cluster must take it back into every ISR.
#
# The web console is checked along the way: broker 1's cluster page lists
# brokers 1-3 alive once the cluster is up, and a surviving broker's shows
# the killed leader as not alive.
#
# The project (containers, network, volumes) is always removed at the end.
# `make compose-test` builds the images and bin/kzoo first and runs this.
#
# Settings (environment):
#   COMPOSE_PROJECT     compose project name (default kzoo-test)
#   KZOO_TEST_TIMEOUT   seconds to wait for each expected state (default 120)
#
# The host reaches the brokers through their EXTERNAL listeners, published
# and advertised as 127.0.0.1:1909N (see docker-compose.yml).

set -euo pipefail

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly repo_root
readonly project=${COMPOSE_PROJECT:-kzoo-test}
readonly timeout=${KZOO_TEST_TIMEOUT:-120}
readonly kzoo=$repo_root/bin/kzoo
readonly topic=compose-test
readonly partitions=3
readonly -a brokers=(1 2 3)

# host_port ID: the host port publishing broker ID's EXTERNAL listener.
host_port() {
	printf '%d\n' "$((19090 + $1))"
}

# console_port ID: the host port publishing broker ID's web console.
console_port() {
	printf '%d\n' "$((19650 + $1))"
}

log() {
	printf '%s compose-test: %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
	log "FAILED: $*"
	exit 1
}

# ---- compose ----------------------------------------------------------------

declare -a compose_cmd
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	die "neither 'docker compose' nor docker-compose is installed"
fi

compose() {
	"${compose_cmd[@]}" --project-name "$project" --file "$repo_root/docker-compose.yml" "$@"
}

# container SERVICE: the id of SERVICE's container, running or not (which
# `compose ps -q` of Compose v2 would leave out).
container() {
	local id
	id=$(docker ps -a -q --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1")
	[[ -n $id && $id != *$'\n'* ]] || die "not exactly one container for service $1"
	printf '%s\n' "$id"
}

compose_network() {
	local name
	name=$(docker network ls -q --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.network=kzoo")
	[[ -n $name ]] || die "the compose network of project $project is missing"
	printf '%s\n' "$name"
}

work=$(mktemp -d)
readonly work

# shellcheck disable=SC2317 # called by the trap
finish() {
	local rc=$?
	set +e
	if ((rc != 0)); then
		log "cluster state at the failure:"
		compose ps >&2
		local service
		for service in zk1 zk2 zk3 broker1 broker2 broker3; do
			log "last lines of $service:"
			compose logs --no-color --tail=25 "$service" 2>&1 | sed 's/^/    /' >&2
		done
	fi
	log "removing project $project (containers, network, volumes)"
	compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 ||
		log "warning: 'compose down' failed; remove project $project by hand"
	rm -rf -- "$work"
	if ((rc == 0)); then
		log "PASSED in ${SECONDS}s"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- waiting ----------------------------------------------------------------

# wait_until DESCRIPTION COMMAND...: run COMMAND until it succeeds; die after
# $timeout seconds.
wait_until() {
	local what=$1 deadline=$((SECONDS + timeout))
	shift
	log "waiting until $what"
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out after ${timeout}s waiting until $what"
		sleep 1
	done
}

# healthy SERVICE...: whether every SERVICE's container reports healthy.
healthy() {
	local service status
	for service; do
		status=$(docker inspect -f '{{.State.Health.Status}}' "$(container "$service")") || return 1
		[[ $status == healthy ]] || return 1
	done
}

# ---- cluster metadata (kcat -L) ---------------------------------------------

# metadata BROKER: the cluster's metadata for $topic as BROKER sees it, in
# kcat's stable format ("broker 1 at ...", "partition 0, leader 1,
# replicas: 1,2,3, isrs: 1,2,3").
metadata() {
	timeout 20 kcat -b "127.0.0.1:$(host_port "$1")" -L -t "$topic" -m 10
}

# live_brokers BROKER: the ids of the registered brokers, one per line.
live_brokers() {
	metadata "$1" | sed -nE 's/^ +broker ([0-9]+) at .*/\1/p' | sort -n
}

# partition_table BROKER: "PARTITION LEADER ISR" per partition of $topic.
partition_table() {
	metadata "$1" | sed -nE 's/^ +partition ([0-9]+), leader (-?[0-9]+), replicas: [0-9,]+, isrs: ([0-9,]*).*/\1 \2 \3/p'
}

# leader_of BROKER PARTITION: the leader of PARTITION.
leader_of() {
	partition_table "$1" | awk -v p="$2" '$1 == p { print $2; found = 1 } END { exit !found }'
}

# cluster_is BROKER IDS: whether, as BROKER sees it, exactly the brokers IDS
# (a comma-separated sorted list) are registered, and every partition of
# $topic has a leader among them and exactly them in its ISR.
cluster_is() {
	local asked=$1 want=$2 got table
	got=$(live_brokers "$asked" | paste -sd,) || return 1
	[[ $got == "$want" ]] || return 1
	table=$(partition_table "$asked") || return 1
	(($(wc -l <<<"$table") == partitions)) || return 1
	local partition leader isr
	while read -r partition leader isr; do
		[[ ,$want, == *,$leader,* ]] || return 1
		[[ $(tr , '\n' <<<"$isr" | sort -n | paste -sd,) == "$want" ]] || return 1
	done <<<"$table"
}

# require_cluster IDS DESCRIPTION: wait until cluster_is IDS holds as seen by
# the first of IDS.
require_cluster() {
	local ids=$1 what=$2
	wait_until "$what (brokers and ISR: $ids)" cluster_is "${ids%%,*}" "$ids"
}

# ---- the web console ----------------------------------------------------------

# console_alive ASKED ID: broker ID's alive cell ("yes" or "no") on the
# cluster page of broker ASKED's console (the DOM contract's
# tr[data-broker=ID] td.alive); fails when the page does not list ID.
console_alive() {
	local page
	page=$(timeout 10 curl -fsS "http://127.0.0.1:$(console_port "$1")/") || return 1
	awk -v id="$2" '
		index($0, "data-broker=\"" id "\"") { row = 1 }
		row && match($0, /<td class="alive">[a-z]+<\/td>/) {
			cell = substr($0, RSTART, RLENGTH)
			gsub(/<[^>]*>/, "", cell)
			print cell
			found = 1
			exit
		}
		row && /<\/tr>/ { exit }
		END { exit !found }' <<<"$page"
}

# console_shows ASKED ALIVE ID...: whether broker ASKED's console shows every
# ID with the alive cell ALIVE ("yes" or "no").
console_shows() {
	local asked=$1 want=$2 id got
	shift 2
	for id; do
		got=$(console_alive "$asked" "$id") || return 1
		[[ $got == "$want" ]] || return 1
	done
}

# ---- records ----------------------------------------------------------------

readonly expected=$work/expected
: >"$expected"

# produce BROKER PHASE COUNT: produce COUNT keyed records with acks=all
# through BROKER; every one of them must be acknowledged.
produce() {
	local via=$1 phase=$2 count=$3 i out
	out=$work/produce-$phase
	for ((i = 1; i <= count; i++)); do
		printf '%s-%d=%s record %d\n' "$phase" "$i" "$phase" "$i"
	done >"$out"
	log "producing $count records ($phase) through broker $via"
	# Every record is expected from here on, whatever kcat reports:
	# consume_all finds one that was not delivered.
	cat "$out" >>"$expected"
	timeout 120 kcat -P -b "127.0.0.1:$(host_port "$via")" -t "$topic" -K = \
		-X acks=all -X message.timeout.ms=60000 <"$out" ||
		die "producing $phase through broker $via failed"
}

# consume_all BROKER: consume $topic from the beginning through BROKER and
# check that it holds exactly the acknowledged records (a retried produce
# may add duplicates, which are tolerated; a lost or unexpected record is
# not).
consume_all() {
	local via=$1 got=$work/consumed want=$work/want
	log "consuming everything through broker $via"
	timeout 60 kcat -C -b "127.0.0.1:$(host_port "$via")" -t "$topic" -o beginning -e -q \
		-f '%k=%s\n' >"$got" || die "consuming through broker $via failed"
	sort -u "$got" -o "$got"
	sort "$expected" >"$want"
	if ! cmp -s "$got" "$want"; then
		log "records missing (<) or unexpected (>):"
		diff "$want" "$got" | grep '^[<>]' | head -20 >&2 || true
		die "broker $via served $(wc -l <"$got") distinct records, $(wc -l <"$want") were acknowledged"
	fi
	log "all $(wc -l <"$want") acknowledged records consumed"
}

describe() {
	"$kzoo" --bootstrap-server "127.0.0.1:$(host_port "$1")" topics describe "$topic" | sed 's/^/    /' >&2 ||
		log "warning: kzoo topics describe failed"
}

# ---- the test ---------------------------------------------------------------

command -v kcat >/dev/null || die "kcat not found (make deps)"
command -v curl >/dev/null || die "curl not found"
[[ -x $kzoo ]] || die "$kzoo not found (make build)"
for image in "${BROKER_IMAGE:-kzoo/broker}" "${ZK_IMAGE:-kzoo/zookeeper}"; do
	docker image inspect "$image" >/dev/null 2>&1 || die "image $image not found (make images)"
done

log "removing what an earlier run of project $project may have left"
compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true

log "starting the cluster"
compose up -d >"$work/up.log" 2>&1 || {
	cat "$work/up.log" >&2
	die "compose up failed"
}
wait_until "every container is healthy" healthy zk1 zk2 zk3 broker1 broker2 broker3

log "creating topic $topic: $partitions partitions, replication factor 3"
"$kzoo" --bootstrap-server "127.0.0.1:$(host_port 1)" topics create "$topic" \
	--partitions "$partitions" --replication-factor 3 --config min.insync.replicas=2 >/dev/null ||
	die "creating topic $topic failed"
require_cluster 1,2,3 "every partition has a leader and a full ISR"
describe 1
wait_until "broker 1's web console lists brokers 1-3 alive" console_shows 1 yes 1 2 3

produce 1 initial 300
consume_all 2

# -- failover: the leader of partition 0 dies.
victim=$(leader_of 1 0) || die "no leader for partition 0"
survivors=$(printf '%s\n' "${brokers[@]}" | grep -vx "$victim" | paste -sd,)
log "killing broker $victim (leader of partition 0) with SIGKILL"
docker kill --signal KILL "$(container "broker$victim")" >/dev/null
require_cluster "$survivors" "the surviving brokers lead every partition"
describe "${survivors%%,*}"
wait_until "broker ${survivors%%,*}'s web console shows broker $victim not alive" \
	console_shows "${survivors%%,*}" no "$victim"
consume_all "${survivors%%,*}"
produce "${survivors##*,}" after-kill 300
consume_all "${survivors%%,*}"

log "restarting broker $victim"
compose start "broker$victim" >/dev/null 2>&1 || die "restarting broker $victim failed"
require_cluster 1,2,3 "broker $victim is back in every ISR"
consume_all "$victim"

# -- network partition: a broker loses the compose network (ZooKeeper and
# the other brokers) and comes back.
isolated=$(leader_of 1 1) || die "no leader for partition 1"
survivors=$(printf '%s\n' "${brokers[@]}" | grep -vx "$isolated" | paste -sd,)
network=$(compose_network)
isolated_container=$(container "broker$isolated")
# The brokers are on this one network only.
isolated_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$isolated_container")
[[ -n $isolated_ip ]] || die "cannot tell broker $isolated's address"
log "disconnecting broker $isolated ($isolated_ip, leader of partition 1) from the network"
docker network disconnect "$network" "$isolated_container"
require_cluster "$survivors" "the cluster drops broker $isolated"
produce "${survivors%%,*}" during-partition 300
consume_all "${survivors##*,}"

log "reconnecting broker $isolated"
# It may get another address; the others find it by its name (its INTERNAL
# listener is advertised as broker$isolated:9092).
docker network connect --alias "broker$isolated" "$network" "$isolated_container"
require_cluster 1,2,3 "broker $isolated is back in every ISR"
describe "$isolated"
produce "$isolated" after-partition 300
consume_all "$isolated"
