"""jupyter_kernel_test's conformance suite on both targets (issue 2 and issue 3, "What it must
show"): a kernelspec installed with `--login local --no-header` (SshptyLocalKernelTests) and
one installed with `--login h1-ops --no-header` (SshptySshKernelTests), with the same samples
(Samples) and the same expected skips:

- execute_stderr: a PTY merges stdout and stderr into one stream, as a terminal does.
- execute_result: a shell has no values to return. (display_data runs: bash_kernel's
  `display` and `displayHTML` helpers, see test_display.py.)
- pager: the kernel sets PAGER=cat; nothing is sent as a pager payload.
- history: the suite only runs it with execute_result samples; test_protocol.py covers
  tail, range and search.
- clear_output: the suite wants a clear_output message, which a terminal has no notion of.
- iopub_welcome (a separate class, not subclassed): IOPub is a PUB socket, not XPUB.

jupyter_kernel_test starts the kernel in setUpClass, outside pytest's fixtures, so each class
sets up what the fixtures would: the test HOME every kernel of ours gets (harness.TEST_HOME);
for SSH, h1 on the shared lab (ssh_kernel.shared_sshd), a client HOME with its aliases, and the
kernel started with that HOME and the lab's agent.
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
from harness import LOCAL, kernel_env
from ssh_kernel import (FAST, SSH_KERNEL, install_ssh_kernelspec, restore_jupyter_path,
                        shared_sshd)


class Samples:
    """What the suite runs, the same on every target (not a TestCase: it runs nothing)."""

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
    # A 1×1 PNG, and HTML, through the display helpers every cell has.
    code_display_data = [
        {"code": "printf %s iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg== | base64 -d | display",
         "mime": "image/png"},
        {"code": "echo '<b>x</b>' | displayHTML", "mime": "text/html"},
    ]


class SshptyLocalKernelTests(Samples, jupyter_kernel_test.KernelTests):
    kernel_name = LOCAL

    @classmethod
    def setUpClass(cls) -> None:
        # As the suite does, plus the test HOME every kernel of ours gets (harness.TEST_HOME).
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, env=kernel_env())


class SshptySshKernelTests(Samples, jupyter_kernel_test.KernelTests):
    kernel_name = SSH_KERNEL

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
