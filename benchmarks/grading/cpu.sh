#!/bin/sh
# usage: cpu.sh LABEL COMMAND...   runs COMMAND in a cpuacct cgroup of its own; prints wall and CPU seconds of it and all it starts
label=$1; shift
group=/sys/fs/cgroup/cpuacct/bench-$label-$$
mkdir $group
start=$(date +%s.%N)
sh -c "echo \$\$ > $group/cgroup.procs; exec \"\$@\"" sh "$@"
rc=$?
end=$(date +%s.%N)
echo "$label: rc $rc, wall $(echo "$end - $start" | bc) s, CPU $(echo "scale=1; $(cat $group/cpuacct.usage) / 1000000000" | bc) s ($(tr '\n' ' ' < $group/cpuacct.stat) ticks)"
rmdir $group 2>/dev/null
