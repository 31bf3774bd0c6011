"""The Telegram bot: ``app`` builds and runs it, ``handlers`` answer updates, ``render`` turns
answers into Telegram HTML, ``access`` decides who may do what."""

from newsbot.bot.app import build_application, run_bot, run_mode

__all__ = ["build_application", "run_bot", "run_mode"]
