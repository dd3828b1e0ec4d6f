"""Build workspaces for the CI runner: each build gets a scratch directory."""

import os
import shutil
import subprocess
import tempfile


class BuildWorkspace:
    """A scratch checkout of one commit; removed when the workspace goes away."""

    def __init__(self, repo_url, commit):
        self.repo_url = repo_url
        self.commit = commit
        self.path = tempfile.mkdtemp(prefix="build-")
        self.log_lines = []

    def checkout(self):
        self._git("clone", "--quiet", self.repo_url, self.path)
        self._git("-C", self.path, "checkout", "--quiet", self.commit)

    def _git(self, *args):
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
        self.log_lines.extend(result.stdout.splitlines())

    def run(self, command):
        result = subprocess.run(command, cwd=self.path, capture_output=True, text=True)
        self.log_lines.extend(result.stdout.splitlines())
        return result.returncode

    def artifact(self, name):
        return os.path.join(self.path, "dist", name)

    def __del__(self):  # expect: RL201
        shutil.rmtree(self.path, ignore_errors=True)


def run_build(job):
    workspace = BuildWorkspace(job.repo_url, job.commit)
    workspace.checkout()
    status = workspace.run(["make", "test"])
    job.report(status=status, log="\n".join(workspace.log_lines))
    return status == 0
