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
        return ray, False
    kwargs = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": True}
    try:
        if address:  # an existing cluster: its nodes must have this package and the model's code installed
            ray.init(address=address, **kwargs)
        else:  # local workers run this interpreter: this package imports as it does here
            ray.init(num_cpus=workers, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ClusterMissing(f"cannot start or reach the Ray cluster{f' at {address!r}' if address else ''}: "
                             f"{err} (check --ray-address, or pass --workers 1)") from None
    return ray, True


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
            results.append(fn(context, *job, log=log))
            if done:
                done(i, results[-1])
        return results
    if not jobs:
        return []
    import torch

    ray, started = _init_ray(workers, ray_address)
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
            ready, pending = ray.wait(pending, num_returns=1)
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
