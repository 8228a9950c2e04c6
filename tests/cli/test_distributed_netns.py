"""Two "machines" on this one: two network namespaces, each with its own hostname, joined by a veth
pair; mpirun in the first starts rank 1 in the second through an rsh agent (as it would over ssh),
and the ranks talk over TCP alone. A short training run there must end exactly as the same run of
two processes on one machine (shared memory) does.

Needs root with the right to make network namespaces (ip netns, unshare); it exits 77, saying
why, where they cannot be made, such as an unprivileged container."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from cli_testing import CRESCENDO, check, finish, metrics, run, without_timings  # noqa: E402

SKIP = 77
TAG = f"cr{os.getpid() % 100000}"
NODES = [(f"{TAG}a", "10.77.0.1", "cr-node-a"), (f"{TAG}b", "10.77.0.2", "cr-node-b")]
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

# mpirun's remote shell: `agent HOST COMMAND...` runs COMMAND in HOST's namespace, under its name
AGENT = """#!/bin/sh
host=$1; shift
case "$host" in
{cases}
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name; $*"
"""


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True)


def make_machines():
    """The namespaces and the link between them; the reason when they cannot be made."""
    for tool in ("ip", "unshare", "mpirun"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for ns, _, _ in NODES:
        p = sh("ip", "netns", "add", ns)
        if p.returncode != 0:
            return f"ip netns add failed: {p.stderr.strip()}"
    (a, ip_a, _), (b, ip_b, _) = NODES
    steps = [("ip", "link", "add", f"{a}v", "type", "veth", "peer", "name", f"{b}v"),
             ("ip", "link", "set", f"{a}v", "netns", a), ("ip", "link", "set", f"{b}v", "netns", b)]
    for ns, ip, _ in NODES:
        steps += [("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", f"{ns}v"),
                  ("ip", "-n", ns, "link", "set", f"{ns}v", "up"),
                  ("ip", "-n", ns, "link", "set", "lo", "up")]
    for step in steps:
        p = sh(*step)
        if p.returncode != 0:
            return f"{' '.join(step)} failed: {p.stderr.strip()}"
    return None


def remove_machines():
    for ns, _, _ in NODES:
        sh("ip", "netns", "del", ns)


def main():
    info = subprocess.run([CRESCENDO, "info"], capture_output=True, text=True).stdout
    if "mpi:      none" in info:
        print("skipped: this build has no MPI")
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="cr_netns_")
    try:
        why = make_machines()
        if why:
            print(f"skipped: two network namespaces cannot be made here: {why}")
            sys.exit(SKIP)
        agent = os.path.join(tmp, "agent.sh")
        cases = "\n".join(f"  {ip}) ns={ns}; name={name} ;;" for ns, ip, name in NODES)
        with open(agent, "w") as f:
            f.write(AGENT.format(cases=cases))
        os.chmod(agent, stat.S_IRWXU)

        data = os.path.join(tmp, "data")
        run("prepare", "synthetic", "--out", data, "--classes", "4", "--per-class", "16",
            "--val-per-class", "4", "--size", "64", "--seed", "2")
        args = ["train", "--data", data, "--train-csv", "train.csv", "--val-csv", "val.csv",
                "--model", "simple_cnn", "--resolution", "32", "--batch-size", "16",
                "--epochs", "2", "--seed", "3", "--threads", "1"]
        here, apart = os.path.join(tmp, "one-machine"), os.path.join(tmp, "two-machines")
        p = subprocess.run(["mpirun", "-np", "2", "--oversubscribe", CRESCENDO, *args, "--out",
                            here], capture_output=True, text=True, env=MPI_ENV, timeout=300)
        check(p.returncode == 0, f"two processes on one machine: {p.stderr[-1500:]}")

        (a, ip_a, name_a), (_, ip_b, _) = NODES
        mpirun = ["mpirun", "-np", "2", "--host", f"{ip_a}:1,{ip_b}:1",
                  "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
                  "--mca", "btl_tcp_if_include", "10.77.0.0/24",
                  "--mca", "oob_tcp_if_include", "10.77.0.0/24"]
        inner = " ".join([*mpirun, CRESCENDO, *args, "--out", apart])
        p = subprocess.run(["ip", "netns", "exec", a, "unshare", "--uts", "sh", "-c",
                            f"hostname {name_a}; {inner}"], capture_output=True, text=True,
                           env=MPI_ENV, timeout=300)
        check(p.returncode == 0, f"two machines over TCP: exit {p.returncode}\n"
              f"stdout: {p.stdout[-1500:]}\nstderr: {p.stderr[-1500:]}")
        check("2 processes of 1 threads" in p.stdout, "rank 0 speaks for both machines")
        check(without_timings(metrics(apart)) == without_timings(metrics(here)),
              "the run over TCP between two namespaces ends as the run on one machine")
        print(f"two namespaces over TCP: {len(metrics(apart))} epochs, val acc "
              f"{metrics(apart)[-1]['val_acc']:.4f}, equal to one machine's")
    finally:
        remove_machines()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
