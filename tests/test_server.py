"""The server as a whole: reloads that must not be applied while running."""

from __future__ import annotations


async def test_reload_that_moves_dir_base_is_refused(tree, start_server, caplog):
    tree.write_main('[job "a"]\ncommand = true\n')
    running = await start_server()
    old_base = running.server.env.karajo.dir_base
    text = tree.main_file.read_text()
    tree.main_file.write_text(text.replace(f"dir_base = {old_base}", "dir_base = /tmp"))

    assert not running.server.reload()

    assert running.server.env.karajo.dir_base == old_base
    assert f"dir_base changed from {old_base} to /tmp, which needs a restart" in (
        caplog.text
    )
