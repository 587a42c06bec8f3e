"""Set-up the tests share, importable from every test folder as `helpers` (tests/ is on the
path through tests/conftest.py): videos written by tests and the two-person clip
(`videos`), waiting for a condition (`polling`), the real app server (`app_server`), a real
browser (`browser`), the fine-tuning set-up (`finetuning`) and the real clips' landmarks and
features handed to the model's tests (`clip_data`), and the `au-annotator` command run in
the test's process (`command_line`).

The session-wide fixtures built from these (the two-person clip, the browser, the clips'
features) live in tests/conftest.py.
"""
