#!/bin/bash
# Instructions per issued credential, counted by valgrind's callgrind: the
# same for the same binary and inputs whatever else the machine is doing
# (docs/BENCHMARKS.md). Usage: scripts/bench-callgrind.sh BIN LABEL PORT
# (EXTRA="--credential-type jwt" for tokens). Needs valgrind and curl.
set -u
BIN=$1; LABEL=$2; PORT=$3
D=$(mktemp -d /tmp/signet-cg-XXXX); cd $D
$BIN serve --listen 127.0.0.1:$PORT > /dev/null 2>&1 &   # first start outside valgrind (CA creation)
P=$!; for i in $(seq 1 60); do [ -f signet-data/admin-token ] && curl -sk https://127.0.0.1:$PORT/readyz >/dev/null 2>&1 && break; sleep 1; done; kill $P; wait $P 2>/dev/null
valgrind --tool=callgrind --callgrind-out-file=$D/cg.out --instr-atstart=no $BIN serve --listen 127.0.0.1:$PORT > serve.log 2>&1 &
PID=$!
for i in $(seq 1 300); do curl -sk https://127.0.0.1:$PORT/readyz >/dev/null 2>&1 && break; sleep 1; done
TOK=$(cat signet-data/admin-token)
SIGNET_TOKEN=$TOK $BIN --server https://127.0.0.1:$PORT subject create --name warm --kind workload --owner t --purpose t > /dev/null 2>&1
callgrind_control -i on $PID > /dev/null
SIGNET_TOKEN=$TOK $BIN --server https://127.0.0.1:$PORT bench issue --clients 8 --duration 600 --csrs 1000 ${EXTRA:-} > bench.out 2>&1
callgrind_control -i off $PID > /dev/null
callgrind_control -d $PID > /dev/null
kill $PID; wait $PID 2>/dev/null
N=$(grep -E "(certificates|tokens) issued" bench.out | awk '{print $3}')
TOTAL=$(callgrind_annotate $D/cg.out.1 2>/dev/null | grep "PROGRAM TOTALS" | awk '{print $1}' | tr -d ,)
echo "== $LABEL: $N issued, $TOTAL instructions, $((TOTAL / N)) per credential  ($D)"
