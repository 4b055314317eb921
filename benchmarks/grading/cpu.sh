#!/bin/sh
# usage: cpu.sh LABEL COMMAND...   runs COMMAND in a cgroup v1 cpuacct group of its own (as root); prints
# its wall seconds and the CPU seconds of it and of every process it started (read once they have ended)
label=$1; shift
group=/sys/fs/cgroup/cpuacct/bench-$label-$$
mkdir $group
start=$(date +%s.%N)
sh -c "echo \$\$ > $group/cgroup.procs; exec \"\$@\"" sh "$@"
rc=$?
end=$(date +%s.%N)
waited=0
while [ -n "$(cat $group/cgroup.procs)" ] && [ $waited -lt 30 ]; do sleep 1; waited=$((waited + 1)); done  # a forkserver ends last
echo "$label: rc $rc, wall $(echo "$end - $start" | bc) s, CPU $(echo "scale=1; $(cat $group/cpuacct.usage) / 1000000000" | bc) s"
rmdir $group
