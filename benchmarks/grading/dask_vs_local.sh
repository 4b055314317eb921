#!/bin/bash
# 8 hw3 submissions (tiny profile) graded with --jobs 2, then by 2 local Dask workers (--no-nanny, one
# thread each), back to back; wall and CPU seconds of each (cgroup v1 cpuacct: run as root), the
# cluster's CPU included. Usage, from the repository root: benchmarks/grading/dask_vs_local.sh [FOLDER]
set -e
B=${1:-/tmp/grading-bench}; PY=${PY:-.venv/bin/python}; HERE=benchmarks/grading
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 DIGITCOURSE_DATA=${DIGITCOURSE_DATA:-$HOME/.cache/digitcourse}
export DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0
rm -rf $B; mkdir -p $B/cluster
$PY $HERE/submissions.py $B
G=/sys/fs/cgroup/cpuacct/grading-cluster-$$; mkdir $G
JOIN='echo $$ > '$G'/cgroup.procs; exec "$@"'
sh -c "$JOIN" sh timeout 1200 $PY -m dask scheduler --host 127.0.0.1 --port 8786 --no-dashboard --idle-timeout 600s > $B/cluster/scheduler.log 2>&1 & S=$!
sleep 8
for n in 1 2; do
  sh -c "$JOIN" sh timeout 1200 $PY -m dask worker tcp://127.0.0.1:8786 --no-nanny --nthreads 1 --no-dashboard --host 127.0.0.1 \
     --death-timeout 60 --local-directory $B/cluster/w$n > $B/cluster/w$n.log 2>&1 & W="$W $!"
done
sleep 15
$HERE/cpu.sh jobs2 $PY -m digitcourse grade $B/submissions --source notebooks --out $B/local --profile tiny --jobs 2 2>&1 | grep -v "/hw3"
C0=$(cat $G/cpuacct.usage)
$HERE/cpu.sh dask2 $PY -m digitcourse grade $B/submissions --source notebooks --out $B/dask --profile tiny --scheduler tcp://127.0.0.1:8786 2>&1 | grep -v "/hw3"
echo "the cluster's CPU during the dask run: $(( ($(cat $G/cpuacct.usage) - C0) / 1000000000 )) s"
diff <(sort $B/dask/grades.csv) <(sort $B/local/grades.csv) > /dev/null && echo "the same grades.csv"
kill $W; sleep 2; kill $S; wait; rmdir $G
