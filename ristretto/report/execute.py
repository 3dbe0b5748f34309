"""Where the report's points run: in this process (``workers=1``) or as Ray tasks.

Ray runs locally by default, on as many worker processes as asked (each task
one CPU), or on an existing cluster (``ray_address``). Workers import this
package from where the driver imports it (Ray starts them in the driver's
folder, which would let a source checkout shadow the installed package), and
the driver's import paths are appended to theirs, so a ``--model
package.module`` found from the driver's folder imports there too. Each task
computes one point and returns it with the unit cache entries it wrote and its log lines;
the caller writes both into its cache, so the driver's cache stays the single
source of truth even when workers do not share its file system. Each task uses
the driver's torch thread count, so a point is the same number for number
either way (``tests/report/test_execute.py`` compares them byte for byte).
"""

import os
import sys

from ..progress import HEARTBEAT_S, heartbeat

__all__ = ["ClusterMissing", "WorkerLost", "default_workers", "run_jobs"]


class ClusterMissing(RuntimeError):
    """Ray was asked for but is not installed, or the cluster cannot be reached."""


RETRIES = 2  # times a job whose worker died is run again


class WorkerLost(RuntimeError):
    """A job whose Ray worker died on every try."""


def default_workers():
    """The cores this machine has (1 when Ray is not installed: the serial path needs nothing)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return 1
    return max(1, os.cpu_count() or 1)


def _init_ray(workers, address):
    try:
        import ray
    except ImportError:
        raise ClusterMissing("Ray is not installed: install it with pip install 'ristretto-accel[cluster]' "
                             "(or pass --workers 1 to run the points in this process)") from None
    if ray.is_initialized():
        return ray, False, lambda: None
    kwargs = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": True}
    if address:
        _answers(address)
    undo = _token_mode() if address else (lambda: None)
    try:
        if address:  # an existing cluster: its nodes must have this package and the model's code installed
            ray.init(address=address, **kwargs)
        else:  # local workers run this interpreter: this package imports as it does here
            ray.init(address="local", num_cpus=workers, **kwargs)  # never a cluster already running here
    except (ConnectionError, RuntimeError, ValueError) as err:
        undo()
        if address:
            raise ClusterMissing(f"cannot reach the Ray cluster at {address!r}: {_why(err, ray)}") from None
        raise ClusterMissing(f"cannot start local Ray workers: {err} (pass --workers 1)") from None
    return ray, True, undo


def _answers(address):
    """Refuse at once a ``host:port`` where nothing listens (Ray itself retries for a minute or more)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", ray:// client addresses: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise ClusterMissing(f"cannot reach the Ray cluster at {address!r}: nothing answers there "
                             f"({err.strerror or err}); start it with 'ray start --head' and pass the address it "
                             "prints (host:port), or pass --workers 1") from None


def _token_mode():
    """A cluster started with ``ray start`` (Ray >= 2.60) asks for its token, which a driver sends only in token
    mode: turn it on when a token is at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``,
    where ``ray start`` writes it) and the user has not chosen a mode. Returns what undoes it (after shutdown)."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if "RAY_AUTH_MODE" in os.environ or not (os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path)):
        return lambda: None

    def reload():  # Ray reads its auth mode once; these reread it (as Ray's own authentication tests do)
        try:
            from ray._raylet import AuthenticationTokenLoader, Config

            Config.initialize("")
            AuthenticationTokenLoader.instance().reset_cache()
        except (ImportError, AttributeError):  # another Ray: it reads the variable when it connects
            pass

    os.environ["RAY_AUTH_MODE"] = "token"
    reload()

    def undo():
        os.environ.pop("RAY_AUTH_MODE", None)
        reload()

    return undo


def _why(err, ray):
    """Why a cluster did not answer, in words: its token, its address or its Ray version."""
    chain, e = [], err
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    text = " ".join(str(e) for e in chain)
    if any(type(e).__name__ == "AuthenticationError" for e in chain) or "InvalidAuthToken" in text:
        return ("it asks for an authentication token this driver does not have: copy the head's ~/.ray/auth_token "
                "here, or set RAY_AUTH_TOKEN")
    if "version" in text.lower() and "mismatch" in text.lower():
        return f"its Ray version differs from this one ({ray.__version__}); install the cluster's version here"
    return ("nothing answers there: start it with 'ray start --head' and pass the address it prints "
            "(host:port), or pass --workers 1")


def run_jobs(fn, context, jobs, *, workers=1, ray_address=None, done=None, log=print):
    """Run ``fn(context, *job, log=...)`` for each job; return the results in job order.

    ``workers=1`` without ``ray_address`` runs them here, one after another.
    Otherwise each job is a Ray task (``context`` is shipped once); ``done(i,
    result)`` is called as each finishes (in completion order) and each task's
    log lines are passed to ``log`` then.
    """
    if workers == 1 and not ray_address:
        results = []
        for i, job in enumerate(jobs):
            with heartbeat(log, f"job {i + 1} of {len(jobs)}") as job_log:  # a line at least every 15 s
                results.append(fn(context, *job, log=job_log))
            if done:
                done(i, results[-1])
        return results
    if not jobs:
        return []
    import torch

    ray, started, undo = _init_ray(workers, ray_address)
    try:
        from ray import cloudpickle

        import ristretto

        def task(payload, args, threads, paths, home):
            # Defined here, so it travels by value and runs before anything of this package is imported:
            # a worker starts in the driver's folder, which Ray puts first on its path; from a source checkout
            # that would shadow the installed package. So this package comes from where the driver imports
            # it, then the worker's own paths, then the driver's (a --model package.module beside the user).
            import sys

            import torch
            from ray import cloudpickle

            sys.path[:] = [home] + [p for p in sys.path if p != home]
            sys.path.extend(p for p in paths if p not in sys.path)
            job_fn, ctx = cloudpickle.loads(payload)
            torch.set_num_threads(threads)  # the driver's count: the same float sums in the same order
            logs = []
            return job_fn(ctx, *args, log=logs.append), logs

        # a worker that dies (killed, out of memory) is replaced and its point run again: points are idempotent
        remote = ray.remote(num_cpus=1, max_retries=RETRIES)(task)
        payload = ray.put(cloudpickle.dumps((fn, context)))
        paths = [os.path.abspath(p or os.curdir) for p in sys.path]
        home = os.path.dirname(os.path.dirname(os.path.abspath(ristretto.__file__)))
        refs = {remote.remote(payload, job, torch.get_num_threads(), paths, home): i for i, job in enumerate(jobs)}
        results, pending = [None] * len(jobs), list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=HEARTBEAT_S)
            if not ready:  # a worker's lines arrive when its job ends: meanwhile say the run is alive
                log(f"    ... {len(pending)} of {len(jobs)} job(s) still running on Ray")
                continue
            i = refs[ready[0]]
            try:
                result, logs = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:  # the task's own exception, as if it ran here
                cause = getattr(err, "cause", None)
                raise (cause if isinstance(cause, BaseException) else err.as_instanceof_cause()) from None
            except ray.exceptions.RayError as err:  # the worker or its node died on every try
                raise WorkerLost(f"job {jobs[i]} failed {RETRIES + 1} times because its Ray worker died "
                                 f"({type(err).__name__}: killed, or out of memory?); its points done so far are "
                                 "cached: run again, or with --workers 1") from None
            for line in logs:
                log(line)
            results[i] = result
            if done:
                done(i, result)
        return results
    finally:
        if started:
            ray.shutdown()
            undo()
