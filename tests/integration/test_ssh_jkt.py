"""jupyter_kernel_test's conformance suite against a kernelspec installed with
`--login h1-ops --no-header` (issue 3, "What it must show"): the SSH target passes what the
local target passes (test_jkt.py), with the same expected skips (see its docstring).

jupyter_kernel_test starts the kernel in setUpClass, outside pytest's fixtures, so the class
sets up what the `ssh` fixture would: h1 on the shared lab (ssh_kernel.shared_sshd), a client
HOME with its aliases, and the kernel started with that HOME and the lab's agent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from unittest import SkipTest

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel

import sshd_harness
from ssh_kernel import (FAST, SSH_KERNEL, install_ssh_kernelspec, restore_jupyter_path,
                        shared_sshd)


class SshptySshKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = SSH_KERNEL
    language_name = "bash"
    file_extension = ".sh"

    code_hello_world = "echo 'hello, world'"
    code_stderr = ""  # skipped: the PTY merges stderr into stdout
    completion_samples = [{"text": "ech", "matches": {"echo"}}]
    complete_code_samples = ["echo hi", "if true; then echo hi; fi"]
    incomplete_code_samples = ["if true; then", 'echo "open']
    invalid_code_samples = ["fi"]
    code_page_something = ""
    code_generate_error = "false"
    code_inspect_sample = "echo"
    code_clear_output = ""

    @classmethod
    def setUpClass(cls) -> None:
        if os.geteuid() != 0:
            raise SkipTest(sshd_harness.NOT_ROOT_REASON)
        h1 = shared_sshd("h1")
        cls._tmp = Path(tempfile.mkdtemp(prefix="sshpty-jkt-"))
        cfg = h1.lab.ssh_config_for(cls._tmp / "home", [h1], options=dict(FAST))
        cls._old_path = install_ssh_kernelspec(cls._tmp / "prefix")
        try:
            cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, env=cfg.env(),
                                              startup_timeout=30)
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            super().tearDownClass()
        finally:
            cls._cleanup()

    @classmethod
    def _cleanup(cls) -> None:
        restore_jupyter_path(cls._old_path)
        shutil.rmtree(cls._tmp, ignore_errors=True)
