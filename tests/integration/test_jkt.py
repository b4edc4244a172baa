"""jupyter_kernel_test's conformance suite against a kernelspec installed with
`--login local --no-header` (issue 2, "What it must show").

Expected skips (also said in the README):
- execute_stderr: a PTY merges stdout and stderr into one stream, as a terminal does.
- execute_result, display_data: a shell has no values or rich displays to return.
- pager: the kernel sets PAGER=cat; nothing is sent as a pager payload.
- history: the suite only runs it with execute_result samples; test_protocol.py covers
  tail, range and search.
- clear_output: the suite wants a clear_output message, which a terminal has no notion of.
- iopub_welcome (a separate class, not subclassed): IOPub is a PUB socket, not XPUB.
"""

from __future__ import annotations

import jupyter_kernel_test

from jupyter_client.manager import start_new_kernel

from harness import LOCAL, kernel_env


class SshptyLocalKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = LOCAL

    @classmethod
    def setUpClass(cls) -> None:
        # As the suite does, plus the test HOME every kernel of ours gets (harness.TEST_HOME).
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, env=kernel_env())
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
