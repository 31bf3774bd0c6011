"""The Telegram bot: ``app`` builds and runs it, ``handlers`` answer updates, ``feeds`` is the
``/feed`` command and the polling schedule, ``render`` turns answers into Telegram HTML,
``access`` decides who may do what."""
