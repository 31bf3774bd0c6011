"""RSS/Atom feed subscriptions: new entries arrive in the library by themselves.

``parse`` fetches (through the safe fetcher) and parses feeds, ``manager`` keeps the
subscriptions in the store and polls them, ``models`` holds their types. Nothing here imports
Telegram: the bot's side (``/feed``, the JobQueue schedule, digests and alerts) is
``newsbot.bot.feeds``.
"""
